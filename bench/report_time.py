"""Time to write the report of an rlhf run (goal: <= 3 s): `hfpipeline report RUN_DIR` as a fresh process (Python
start, matplotlib import, 4 figures, report.md), median of --repeat runs, plus the in-process write after warm-up.

Run: python bench/report_time.py [RUN_DIR] [--repeat 5]. Without RUN_DIR it first runs recipes/rlhf.yaml cut down
as tests/test_rlhf_recipe.py's CUT (logging every step, so the curves have points) into a temporary folder.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def make_run(out: Path) -> Path:
    sys.path.insert(0, str(REPO / "tests"))
    from test_rlhf_recipe import CUT

    import hfpipeline

    steps = {f"stages.{s}.train.logging_steps": 1 for s in ("pretrain", "sft", "reward")}
    hfpipeline.run(str(REPO / "recipes/rlhf.yaml"), {**CUT, **steps, "output_dir": str(out)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", nargs="?")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    run_dir = Path(args.run_dir) if args.run_dir else make_run(Path(tempfile.mkdtemp()) / "rlhf")
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hfpipeline", "report", str(run_dir)], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    from hfpipeline import report

    report.write(run_dir)   # warm-up: matplotlib imported, font cache read
    start = time.perf_counter()
    report.write(run_dir)
    warm = time.perf_counter() - start
    plots = len(list((run_dir / "plots").glob("*.png")))
    print(f"hfpipeline report {run_dir} ({plots} plots): median {statistics.median(times):.2f} s over {args.repeat} "
          f"runs (min {min(times):.2f}, max {max(times):.2f}); in-process, warm: {warm:.2f} s")


if __name__ == "__main__":
    main()

"""Time to write the report of an rlhf run (goal: <= 3 s): `hfpipeline report RUN_DIR` as a fresh process (Python
start, matplotlib import, 4 figures, report.md), median of --repeat runs, plus the in-process write after warm-up.

Run: python bench/report_time.py [RUN_DIR] [--repeat 5]. Without RUN_DIR it first runs recipes/rlhf.yaml cut down
as tests/builders.py's RLHF_CUT (logging every step, so the curves have points) into a temporary folder.
"""

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def make_run(out: Path) -> Path:
    sys.path.insert(0, str(REPO / "tests"))
    from builders import RLHF_CUT

    import hfpipeline

    steps = {f"stages.{s}.train.logging_steps": 1 for s in ("pretrain", "sft", "reward")}
    hfpipeline.run(str(REPO / "recipes/rlhf.yaml"), {**RLHF_CUT, **steps, "output_dir": str(out)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", nargs="?")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    run_dir = Path(args.run_dir) if args.run_dir else make_run(Path(tempfile.mkdtemp()) / "rlhf")
    times, cpu = [], []
    for _ in range(args.repeat):
        start, used = time.perf_counter(), _children_cpu()
        subprocess.run([sys.executable, "-m", "hfpipeline", "report", str(run_dir)], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
        cpu.append(_children_cpu() - used)  # what it costs on an idle core: this machine is shared
    from hfpipeline import report

    report.write(run_dir)  # warm-up: matplotlib imported, font cache read
    start = time.perf_counter()
    report.write(run_dir)
    warm = time.perf_counter() - start
    plots = len(list((run_dir / "plots").glob("*.png")))
    print(
        f"hfpipeline report {run_dir} ({plots} plots): wall median {statistics.median(times):.2f} s over "
        f"{args.repeat} runs (min {min(times):.2f}, max {max(times):.2f}), "
        f"CPU median {statistics.median(cpu):.2f} s; in-process, warm: {warm:.2f} s"
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()

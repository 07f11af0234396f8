"""Median wall time of `hfpipeline --help` and `hfpipeline validate recipes/*.yaml` (goal: <= 0.5 s on 2 cores).

Run: python bench/cli_startup.py [--repeat 15]
"""

import argparse
import glob
import shutil
import statistics
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def median_seconds(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    exe = shutil.which("hfpipeline") or "hfpipeline"
    recipes = sorted(glob.glob(str(REPO / "recipes/*.yaml")))
    for label, cmd in [
        ("hfpipeline --help", [exe, "--help"]),
        (f"hfpipeline validate recipes/*.yaml ({len(recipes)} files)", [exe, "validate", *recipes]),
    ]:
        print(f"{label}: median {median_seconds(cmd, args.repeat):.3f} s over {args.repeat} runs")


if __name__ == "__main__":
    main()

"""Wall time and accuracy of the shipped classification demo (recipes/classify.yaml): seconds per stage, MLM
perplexity, held-out accuracy and macro-F1 next to the majority-class baseline, and a few test predictions.

Run: python bench/classify_demo.py [--out /tmp/classify-bench] [key=value ...]
(extra key=value overrides go to the recipe, e.g. stages.classify.train.num_train_epochs=5).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHOWN = (
    "accuracy",
    "f1_macro",
    "majority_baseline",
    "majority_label",
    "best_validation_accuracy",
    "loss_first",
    "loss_last",
    "train_runtime",
    "rows",
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/classify-bench", help="run directory")
    parser.add_argument("overrides", nargs="*", help="key=value overrides for the recipe")
    args = parser.parse_args()
    cmd = [
        sys.executable,
        "-m",
        "hfpipeline",
        "run",
        str(REPO / "recipes/classify.yaml"),
        f"output_dir={args.out}",
        *args.overrides,
        "--overwrite",
    ]
    load_before, start = os.getloadavg()[0], time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - start
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    run_dir = Path(args.out)
    manifest = json.loads((run_dir / "run.json").read_text())
    metrics = json.loads((run_dir / "classify/metrics.json").read_text())
    pretrain = json.loads((run_dir / "pretrain/metrics.json").read_text())
    print(
        f"\n== recipes/classify.yaml: {wall:.1f} s wall, {cpu.ru_utime + cpu.ru_stime:.1f} s CPU "
        f"({os.cpu_count()} cores; 1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after)"
    )
    for s in manifest["stages"]:
        print(f"  stage {s['name']:<9} {s.get('seconds', 0):>7.1f} s  {s['status']}")
    print(
        f"  pretrain perplexity {pretrain['perplexity']:.1f} "
        f"(loss {pretrain['loss_first']:.3f} -> {pretrain['loss_last']:.3f})"
    )
    for key in SHOWN:
        value = metrics.get(key)
        print(f"  {key:<24} {value:.4f}" if isinstance(value, float) else f"  {key:<24} {value}")
    print(f"  accuracy - majority baseline: {metrics['accuracy'] - metrics['majority_baseline']:+.4f}")
    for line in (run_dir / "classify/predictions.jsonl").read_text().splitlines()[:3]:
        row = json.loads(line)
        print(f"  - {row['label']:<8} -> {row['predicted']:<8} ({row['probability']:.2f})  {row['text'][:80]}")


if __name__ == "__main__":
    main()

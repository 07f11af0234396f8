"""Wall time and scores of the shipped seq2seq recipes (recipes/summarize.yaml, recipes/translate.yaml): per stage
seconds, loss first/last, ROUGE with the lead-N baseline, sacreBLEU and chrF, and a few test predictions.

Run: python bench/seq2seq_demo.py [--out /tmp/seq2seq-bench] [--recipes summarize translate] [key=value ...]
(extra key=value overrides go to every recipe, e.g. stages.summarize.train.num_train_epochs=4).
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
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "lead_n",
    "lead_rouge1",
    "lead_rouge2",
    "lead_rougeL",
    "sacrebleu",
    "chrf",
    "exact_match",
    "gen_words",
    "loss_first",
    "loss_last",
    "eval_loss",
    "train_runtime",
)


def run(recipe: str, out: Path, overrides: list[str]) -> dict:
    """Run one recipe from scratch; return per-stage seconds and the seq2seq stage's metrics and predictions."""
    run_dir = out / recipe
    cmd = [
        sys.executable,
        "-m",
        "hfpipeline",
        "run",
        str(REPO / f"recipes/{recipe}.yaml"),
        f"output_dir={run_dir}",
        *overrides,
        "--overwrite",
    ]
    start, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu
    manifest = json.loads((run_dir / "run.json").read_text())
    stage = next(s["name"] for s in manifest["stages"] if s["kind"] == "seq2seq")
    metrics = json.loads((run_dir / stage / "metrics.json").read_text())
    rows = [json.loads(line) for line in (run_dir / stage / "predictions.jsonl").read_text().splitlines()]
    return {
        "recipe": recipe,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "load_average": os.getloadavg()[0],
        "stage_s": {s["name"]: s.get("seconds") for s in manifest["stages"]},
        "metrics": {k: metrics[k] for k in SHOWN if k in metrics},
        "examples": rows[:3],
    }


def _children_cpu() -> float:
    """User + system CPU seconds of finished child processes: a measure that other load on the machine barely moves."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/seq2seq-bench", help="folder for the runs")
    parser.add_argument("--recipes", nargs="+", default=["summarize", "translate"])
    parser.add_argument("overrides", nargs="*", help="key=value overrides for every recipe")
    args = parser.parse_args()
    results = [run(name, Path(args.out), args.overrides) for name in args.recipes]
    for r in results:
        print(
            f"\n== {r['recipe']}: {r['wall_s']} s wall, {r['cpu_s']} s CPU (stages {r['stage_s']}; 1-min load "
            f"average at the end {r['load_average']:.1f}, cores {os.cpu_count()})"
        )
        for key, value in r["metrics"].items():
            print(f"  {key:<14} {value:.4g}" if isinstance(value, float) else f"  {key:<14} {value}")
        for row in r["examples"]:
            print(f"  - reference:  {row['reference']}\n    prediction: {row['prediction']}")
    (Path(args.out) / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()

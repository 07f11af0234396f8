"""Wall time per stage of recipes/rloo.yaml (tokenizer -> pretrain -> sft -> reward -> rloo) and its figures: reward
model accuracy, mean reward of the SFT and the RLOO policy on held-out prompts, KL to the SFT policy.

Run: python bench/rloo_demo.py [--out /tmp/rloo-bench] [--seeds 42 1 2 3] [--threads N] [key=value ...]
(--seeds reruns the whole chain with each recipe seed: does RLOO beat SFT every time?; --threads sets
OMP_NUM_THREADS for the run; extra key=value overrides go to the recipe, e.g. stages.rloo.train.beta=0.1).
The same figures for the PPO chain: bench/rlhf_demo.py.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(seed: int, out: Path, overrides: list[str], threads: int | None) -> dict:
    """Run the chain from scratch with one seed; return wall time, per-stage seconds and the figures."""
    run_dir = out / f"seed{seed}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    cmd = [
        sys.executable,
        "-m",
        "hfpipeline",
        "run",
        str(REPO / "recipes/rloo.yaml"),
        f"output_dir={run_dir}",
        f"seed={seed}",
        *overrides,
        "--overwrite",
    ]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"seed {seed}: hfpipeline run failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    manifest = json.loads((run_dir / "run.json").read_text())
    metrics = {s["kind"]: json.loads((run_dir / s["name"] / "metrics.json").read_text()) for s in manifest["stages"]}
    samples = [json.loads(line) for line in (run_dir / "rloo/samples.jsonl").read_text().splitlines()]
    return {
        "seed": seed,
        "wall_s": round(wall, 1),
        "load_average": os.getloadavg()[0],
        "stage_s": {s["name"]: s.get("seconds") for s in manifest["stages"]},
        "sft_eval_loss": metrics["sft"].get("eval_loss"),
        "rm_accuracy": metrics["reward"]["accuracy"],
        "rm_accuracy_before": metrics["reward"]["accuracy_before"],
        "mean_reward_sft": metrics["rloo"]["mean_reward_sft"],
        "mean_reward": metrics["rloo"]["mean_reward"],
        "kl": metrics["rloo"]["kl"],
        "train_kl_last": metrics["rloo"].get("train_kl_last"),
        "train_reward_first": metrics["rloo"].get("train_reward_first"),
        "train_reward_last": metrics["rloo"].get("train_reward_last"),
        "examples": samples[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/rloo-bench", help="folder for the runs")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42], help="recipe seeds, one full run each")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for the run (default: torch's choice)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides for the recipe")
    args = parser.parse_args()
    results = []
    for seed in args.seeds:
        r = run(seed, Path(args.out), args.overrides, args.threads)
        results.append(r)
        print(
            f"\n== seed {seed}: {r['wall_s']} s wall (1-min load average at the end {r['load_average']:.1f}, "
            f"cores {os.cpu_count()}, OMP_NUM_THREADS {args.threads or os.environ.get('OMP_NUM_THREADS', 'unset')})"
        )
        print("  " + "  ".join(f"{name} {seconds}s" for name, seconds in r["stage_s"].items()))
        print(
            f"  sft eval_loss {r['sft_eval_loss']:.3f}; reward model accuracy {r['rm_accuracy_before']:.2f} -> "
            f"{r['rm_accuracy']:.2f} on held-out pairs"
        )
        print(
            f"  mean reward on held-out prompts: SFT {r['mean_reward_sft']:.3f} -> RLOO {r['mean_reward']:.3f} "
            f"(KL to SFT {r['kl']:.3f} nats per answer)"
        )
        for row in r["examples"]:
            print(
                f"  - {row['prompt']!r}\n    SFT ({row['reward_sft']:+.2f}): {row['sft']!r}\n"
                f"    RLOO ({row['reward']:+.2f}): {row['tuned']!r}"
            )
    if len(results) > 1:
        wins = sum(r["mean_reward"] > r["mean_reward_sft"] for r in results)
        gains = [r["mean_reward"] - r["mean_reward_sft"] for r in results]
        print(
            f"\nRLOO above SFT in {wins} of {len(results)} seeds; reward gain mean {statistics.mean(gains):.3f}, "
            f"sd {statistics.stdev(gains):.3f}; KL {min(r['kl'] for r in results):.2f}-"
            f"{max(r['kl'] for r in results):.2f} nats per answer"
        )
    (Path(args.out) / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()

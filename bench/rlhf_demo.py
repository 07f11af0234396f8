"""Wall time per stage of a shipped InstructGPT chain (recipes/rlhf.yaml: tokenizer -> pretrain -> sft -> reward ->
ppo; --recipe rloo: the same chain ending in rloo) and its figures: reward-model accuracy, mean reward of the SFT and
the RL policy on held-out prompts, KL to the SFT policy.

Run: python bench/rlhf_demo.py [--recipe rlhf|rloo] [--out DIR] [--seeds 42 1 2 3] [--threads N] [key=value ...]
(--seeds reruns the whole chain with each recipe seed: does RL beat SFT every time?; --threads sets OMP_NUM_THREADS
for the run; extra key=value overrides go to the recipe, e.g. stages.ppo.train.kl_coef=0.1).
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


def run(recipe: str, seed: int, out: Path, overrides: list[str], threads: int | None) -> dict:
    """Run the chain from scratch with one seed; return wall time, per-stage seconds and the figures."""
    run_dir = out / f"seed{seed}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    cmd = [
        sys.executable,
        "-m",
        "hfpipeline",
        "run",
        str(REPO / f"recipes/{recipe}.yaml"),
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
    metrics = {s["name"]: json.loads((run_dir / s["name"] / "metrics.json").read_text()) for s in manifest["stages"]}
    rl = manifest["stages"][-1]["name"]  # the chain's last stage: ppo, rloo
    samples = [json.loads(line) for line in (run_dir / rl / "samples.jsonl").read_text().splitlines()]
    return {
        "stage": rl,
        "seed": seed,
        "wall_s": round(wall, 1),
        "load_average": os.getloadavg()[0],
        "stage_s": {s["name"]: s.get("seconds") for s in manifest["stages"]},
        "sft_eval_loss": metrics["sft"].get("eval_loss"),
        "rm_accuracy": metrics["reward"]["accuracy"],
        "rm_accuracy_before": metrics["reward"]["accuracy_before"],
        "mean_reward_sft": metrics[rl]["mean_reward_sft"],
        "mean_reward": metrics[rl]["mean_reward"],
        "kl": metrics[rl]["kl"],
        "train_kl_last": metrics[rl].get("train_kl_last"),
        "train_reward_first": metrics[rl].get("train_reward_first"),
        "train_reward_last": metrics[rl].get("train_reward_last"),
        "examples": samples[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", default="rlhf", choices=["rlhf", "rloo"], help="recipes/NAME.yaml")
    parser.add_argument("--out", help="folder for the runs (default /tmp/NAME-bench)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42], help="recipe seeds, one full run each")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for the run (default: torch's choice)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides for the recipe")
    args = parser.parse_args()
    out = Path(args.out or f"/tmp/{args.recipe}-bench")
    results = []
    for seed in args.seeds:
        r = run(args.recipe, seed, out, args.overrides, args.threads)
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
            f"  mean reward on held-out prompts: SFT {r['mean_reward_sft']:.3f} -> {r['stage']} {r['mean_reward']:.3f} "
            f"(KL to SFT {r['kl']:.3f} nats per answer)"
        )
        for row in r["examples"]:
            print(
                f"  - {row['prompt']!r}\n    SFT ({row['reward_sft']:+.2f}): {row['sft']!r}\n"
                f"    {r['stage']} ({row['reward']:+.2f}): {row['tuned']!r}"
            )
    if len(results) > 1:
        wins = sum(r["mean_reward"] > r["mean_reward_sft"] for r in results)
        gains = [r["mean_reward"] - r["mean_reward_sft"] for r in results]
        print(
            f"\n{results[0]['stage']} above SFT in {wins} of {len(results)} seeds; "
            f"reward gain mean {statistics.mean(gains):.3f}, "
            f"sd {statistics.stdev(gains):.3f}; KL {min(r['kl'] for r in results):.2f}-"
            f"{max(r['kl'] for r in results):.2f} nats per answer"
        )
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()

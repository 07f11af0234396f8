"""Share of RL training time spent generating: the ppo (TRL 1.12 PPOTrainer) and rloo stages of the shipped chain
(tok -> pretrain -> sft -> reward, shortened), with transformers' `generate` wrapped by a timer. Each variant's stage
runs in a fresh process over the same earlier stages (kept in one run dir); figures are seconds inside
training.train and the part of them spent in generate.

Run: python bench/rl_generation.py [--out /tmp/rl-gen-bench] [--rounds 2] [--threads 1]
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
RLOO = """
  - name: rloo
    kind: rloo
    policy: sft
    reward_model: reward
    data: demo:preferences
    eval_prompts: demo:prompts
    train:
      max_steps: 16
      per_device_train_batch_size: 16
      num_generations: 4
      learning_rate: 1.0e-4
      max_completion_length: 24
"""
SHORT = [
    "stages.pretrain.train.max_steps=40",
    "stages.sft.train.max_steps=40",
    "stages.reward.train.max_steps=20",
    "stages.ppo.train.total_episodes=128",
]
VARIANTS = {  # name: (stage, overrides)
    "ppo": ("ppo", []),
    "rloo": ("rloo", []),
    "rloo static cache": ("rloo", ["stages.rloo.train.cache_implementation=static"]),
    "rloo no cache": ("rloo", ["stages.rloo.train.generation_kwargs={use_cache: false}"]),
}


def child(recipe: str, out: str, stage: str, overrides: list[str]) -> None:
    """In this process: time transformers' generate and training.train, run the recipe, write the figures."""
    from transformers.generation.utils import GenerationMixin

    import hfpipeline
    from hfpipeline import training

    spent = {"generate": 0.0, "calls": 0, "train": 0.0, "generate_in_train": 0.0, "in_train": False}
    generate, train = GenerationMixin.generate, training.train

    def timed_generate(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return generate(self, *args, **kwargs)
        finally:
            took = time.perf_counter() - start
            spent["generate"] += took
            spent["calls"] += 1
            if spent["in_train"]:
                spent["generate_in_train"] += took

    def timed_train(trainer, ctx):
        spent["in_train"], start = True, time.perf_counter()
        try:
            return train(trainer, ctx)
        finally:
            spent["train"] += time.perf_counter() - start
            spent["in_train"] = False

    GenerationMixin.generate, training.train = timed_generate, timed_train
    hfpipeline.run(recipe, overrides=[f"output_dir={out}", *SHORT, *overrides], only=stage, overwrite=True)
    spent.pop("in_train")
    Path(out, f"{stage}-timing.json").write_text(json.dumps(spent))


def run(recipe: Path, out: Path, variant: str, threads: int) -> dict:
    stage, overrides = VARIANTS[variant]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--child", str(recipe), str(out), stage, *overrides]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{variant} failed:\n{done.stderr[-3000:]}")
    spent = json.loads((out / f"{stage}-timing.json").read_text())
    metrics = json.loads((out / stage / "metrics.json").read_text())
    return {"variant": variant, **spent, "mean_reward": metrics.get("mean_reward"), "load": os.getloadavg()[0]}


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        return child(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("/tmp/rl-gen-bench"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    recipe = args.out / "rl.yaml"
    recipe.write_text((REPO / "recipes/rlhf.yaml").read_text() + RLOO)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(args.threads)}
    base = [sys.executable, "-m", "hfpipeline", "run", str(recipe), f"output_dir={args.out / 'run'}", *SHORT]
    for stage in ("tok", "pretrain", "sft", "reward"):  # the earlier stages once
        subprocess.run([*base, "--only", stage], env=env, check=True, capture_output=True)
    results = []
    for round_ in range(args.rounds):
        for variant in args.variants:
            r = run(recipe, args.out / "run", variant, args.threads)
            results.append(r)
            print(
                f"round {round_ + 1} {variant:18} train {r['train']:6.1f} s, generate {r['generate_in_train']:6.1f} s "
                f"({100 * r['generate_in_train'] / r['train']:.0f}%), {r['calls']} calls, mean_reward "
                f"{r['mean_reward']:.3f} (load {r['load']:.2f})",
                flush=True,
            )
    print("\n| stage / setting | train s | generate s (in train) | share | mean_reward |\n|---|---|---|---|---|")
    for variant in args.variants:
        mine = [r for r in results if r["variant"] == variant]
        train = statistics.median(r["train"] for r in mine)
        gen = statistics.median(r["generate_in_train"] for r in mine)
        reward = statistics.median(r["mean_reward"] for r in mine)
        print(f"| {variant} | {train:.1f} | {gen:.1f} | {100 * gen / train:.0f}% | {reward:.3f} |")
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

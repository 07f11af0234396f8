"""Padding and packing for sft on variable-length data (demo:instructions: curt and long polite answers): padding to
the longest row per batch (the stage default), length-grouped batches, padding-free batches and packing, each run
through `hfpipeline run` with the same tiny GPT-2, seed and data. Prints non-pad tokens/s and the losses: padding-free
on the same batch order must give the same per-step losses as padding (else samples see each other).

Run: python bench/padding.py [--out /tmp/padding-bench] [--pairs 2] [--epochs 1] [--threads 1]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

RECIPE = """\
name: padding
seed: 42
stages:
  - name: tok
    kind: tokenizer
    type: bpe
    vocab_size: 4000
    data: demo:corpus
  - name: sft
    kind: sft
    model: {from_config: gpt2, n_layer: 2, n_embd: 128, n_head: 4, n_positions: 128}
    tokenizer: tok
    data: demo:instructions
    train:
      num_train_epochs: EPOCHS
      learning_rate: 1.0e-3
      per_device_train_batch_size: 16
      logging_steps: 1
"""
VARIANTS = {  # name: (overrides, correct?)
    "pad-longest": ([], "yes"),
    "group-by-length": (["stages.sft.train.train_sampling_strategy=group_by_length"], "yes"),
    "padding-free": (
        ["stages.sft.train.padding_free=true", "stages.sft.train.max_length=null"],  # TRL: no max_length with it
        "yes if the mask honours position_ids",
    ),
    "packing-bfd": (["stages.sft.train.packing=true"], "yes if the mask honours position_ids"),
    "packing-wrapped": (
        ["stages.sft.train.packing=true", "stages.sft.train.packing_strategy=wrapped"],
        "no: rows attend to each other",
    ),
}


def run(variant: str, out: Path, recipe: Path, threads: int) -> dict:
    """One sft run of a variant (the tok stage is kept between runs); its runtime, tokens and losses."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "hfpipeline", "run", str(recipe), f"output_dir={out}", *VARIANTS[variant][0]]
    if (out / "tok").is_dir():  # later rounds: sft again from scratch, the tokenizer kept
        cmd += ["--only", "sft", "--overwrite"]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{variant}: hfpipeline run failed:\n{done.stderr[-3000:]}")
    wall = time.perf_counter() - start
    metrics = json.loads((out / "sft/metrics.json").read_text())
    history = json.loads((out / "sft/trainer_state.json").read_text())["log_history"]
    return {
        "variant": variant,
        "wall_s": wall,
        "train_runtime": metrics["train_runtime"],
        "steps": metrics["train_steps"],
        "losses": [h["loss"] for h in history if "loss" in h],
        "train_loss": metrics["train_loss"],
        "eval_loss_before": metrics.get("eval_loss_before"),
        "eval_loss": metrics.get("eval_loss"),
        "load": os.getloadavg()[0],
    }


def train_tokens(out: Path, epochs: int) -> int:
    """Non-pad tokens the sft stage trains on: prompt + completion + eos of every train row, times the epochs
    (the 5% validation share held out the way data.load_stage_data does it)."""
    from transformers import AutoTokenizer

    from hfpipeline import data
    from hfpipeline.recipe import load_recipe

    recipe = load_recipe(out / "recipe.resolved.yaml")
    stage = next(s for s in recipe.stages if s.name == "sft")
    train = data.load_stage_data(stage, recipe.seed, evaluate=True)["train"]
    tok = AutoTokenizer.from_pretrained(out / "tok")
    ids = tok([p + c for p, c in zip(train["prompt"], train["completion"])])["input_ids"]
    return epochs * sum(len(row) + 1 for row in ids)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("/tmp/padding-bench"))
    parser.add_argument("--pairs", type=int, default=2, help="interleaved rounds over all variants")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    recipe = args.out / "padding.yaml"
    recipe.write_text(RECIPE.replace("EPOCHS", str(args.epochs)))
    print(f"load average at start: {os.getloadavg()}", flush=True)
    results = []
    for round_ in range(args.pairs):
        for variant in args.variants:
            r = run(variant, args.out / variant, recipe, args.threads)
            results.append(r)
            print(
                f"round {round_ + 1} {variant:16} {r['train_runtime']:7.2f} s train, {r['steps']} steps, "
                f"train_loss {r['train_loss']:.4f} eval_loss before {r['eval_loss_before']:.4f} after "
                f"{r['eval_loss']:.4f} (load {r['load']:.2f})",
                flush=True,
            )
    tokens = train_tokens(args.out / args.variants[0], args.epochs)
    base = [r for r in results if r["variant"] == args.variants[0]][-1]
    print(f"\nnon-pad train tokens: {tokens}; median of {args.pairs} runs; losses vs {args.variants[0]}")
    print("| variant | correct | tokens/s | × pad-longest | steps | train_loss | eval_loss before / after ", end="")
    print("| max step loss Δ |")
    print("|---|---|---|---|---|---|---|---|")
    first = None
    for variant in args.variants:
        mine = [r for r in results if r["variant"] == variant]
        speed = tokens / statistics.median(r["train_runtime"] for r in mine)
        first = first or speed
        last = mine[-1]
        same_batches = variant == "padding-free"  # the same rows per step as padding: losses must match
        delta = max(abs(a - b) for a, b in zip(last["losses"], base["losses"])) if same_batches else None
        print(
            f"| {variant} | {VARIANTS[variant][1]} | {speed:,.0f} | {speed / first:.2f} | {last['steps']} | "
            f"{last['train_loss']:.4f} | {last['eval_loss_before']:.4f} / {last['eval_loss']:.4f} | "
            f"{'—' if delta is None else f'{delta:.2g}'} |"
        )
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(textwrap.dedent(f"\nload average at end: {os.getloadavg()}"))


if __name__ == "__main__":
    main()

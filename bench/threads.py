"""Torch threads on a small CPU machine: 1 vs 2 threads (OMP_NUM_THREADS) for the stages of the shipped rlhf chain,
shortened with overrides, alone and with a neighbour (a second identical run at the same time), and the train-step
time of GPT-2 decoders from 0.5M to 85M parameters alone: where does a second thread start to pay?

Run: python bench/threads.py [--out /tmp/threads-bench] [--rounds 1] [--skip-chain] [--skip-sizes]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHORT = [  # the rlhf chain cut to about a minute per run on 2 cores
    "stages.pretrain.train.max_steps=40",
    "stages.sft.train.max_steps=40",
    "stages.reward.train.max_steps=20",
    "stages.ppo.train.total_episodes=64",
]
SIZES = {  # name: GPT-2 config (vocab 8000, 128 positions)
    "0.5M (demo)": {"n_layer": 2, "n_embd": 128, "n_head": 4},
    "7M": {"n_layer": 4, "n_embd": 384, "n_head": 6},
    "30M": {"n_layer": 8, "n_embd": 512, "n_head": 8},
    "85M (gpt2-small body)": {"n_layer": 12, "n_embd": 768, "n_head": 12},
}


def start_chain(out: Path, threads: int) -> tuple[subprocess.Popen, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "hfpipeline", "run", str(REPO / "recipes/rlhf.yaml"), f"output_dir={out}", *SHORT]
    cmd.append("--overwrite")
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), time.time()


def stage_seconds(out: Path) -> dict:
    manifest = json.loads((out / "run.json").read_text())
    return {s["name"]: round(s.get("seconds") or 0, 1) for s in manifest["stages"]}


def chains(out: Path, threads: int, together: int) -> list[dict]:
    """`together` copies of the short chain at once, each with `threads` torch threads; per-stage seconds of each."""
    procs = [start_chain(out / f"t{threads}-x{together}-{i}", threads) for i in range(together)]
    results = []
    for i, (p, start) in enumerate(procs):
        _, err = p.communicate()
        if p.returncode:
            sys.exit(f"chain failed:\n{err[-3000:]}")
        results.append(
            {
                "threads": threads,
                "together": together,
                "wall_s": round(time.time() - start, 1),
                "stages": stage_seconds(out / f"t{threads}-x{together}-{i}"),
                "load": os.getloadavg()[0],
            }
        )
    return results


def step_time(config: dict, threads: int, steps: int = 4) -> float:
    """Seconds per training step (batch 8 x 128 tokens, AdamW) of a GPT-2 of `config` with `threads` threads."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=8000, n_positions=128, **config))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, 8000, (8, 128))
    times = []
    for _ in range(steps + 1):  # the first step warms up
        start = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[len(times[1:]) // 2], sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("/tmp/threads-bench"))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--skip-chain", action="store_true")
    parser.add_argument("--skip-sizes", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    results = []
    if not args.skip_sizes:
        print("\n| model | parameters | 1 thread s/step | 2 threads s/step | 1 ÷ 2 |\n|---|---|---|---|---|")
        for name, config in SIZES.items():
            one, n = step_time(config, 1)
            two, _ = step_time(config, 2)
            one = min(one, step_time(config, 1)[0])  # A/B/A: the better of two one-thread runs
            results.append({"size": name, "params": n, "t1": one, "t2": two})
            print(f"| {name} | {n / 1e6:.1f}M | {one:.3f} | {two:.3f} | {one / two:.2f} |", flush=True)
    if not args.skip_chain:
        print("\n| threads | runs at once | wall s | " + " | ".join(["pretrain", "sft", "reward", "ppo"]) + " | load |")
        print("|---|---|---|---|---|---|---|---|")
        for _ in range(args.rounds):
            for together in (1, 2):
                for threads in (1, 2):
                    for r in chains(args.out, threads, together):
                        results.append(r)
                        s = r["stages"]
                        print(
                            f"| {threads} | {together} | {r['wall_s']} | {s['pretrain']} | {s['sft']} | "
                            f"{s['reward']} | {s['ppo']} | {r['load']:.2f} |",
                            flush=True,
                        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

"""hfpipeline vs plain library scripts, the same work: per trainable kind, an hfpipeline stage (A), a plain script on
the library class (B: bench/plain/KIND.py, same model, data, batch size, steps, max length and precision) and, where
it means something, the same plain script with the library's own defaults (C). Runs interleave A/B/C, each in a fresh
process measured by bench/_probe.py; the table gives medians and the ratios A/B and A/C. docs/performance.md.

Run: OMP_NUM_THREADS=1 python bench/compare.py [--pairs 3] [--kinds sft dpo] [--json out.json] [--work DIR]
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
DEMO = REPO / "hfpipeline/demo"
SEED = 42
GPT = {"from_config": "gpt2", "n_layer": 2, "n_embd": 128, "n_head": 4, "n_positions": 128}  # recipes/rlhf.yaml's
BERT = {
    "from_config": "bert",
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 256,
    "max_position_embeddings": 128,
}  # recipes/classify.yaml's
T5 = {
    "from_config": "t5",
    "d_model": 128,
    "d_kv": 32,
    "d_ff": 256,
    "num_heads": 4,
    "num_layers": 2,
    "num_decoder_layers": 2,
}  # recipes/summarize.yaml's
# What each kind's C variant ("library defaults") changes from B; kinds without one have none.
LIBRARY_DEFAULTS = {
    "classify": 'texts padded to max_length (padding="max_length", the transformers docs fine-tuning tutorial)',
    "sft": "SFTConfig's own bf16=True and gradient_checkpointing=True (TRL sets both, CPU included)",
    "reward": "RewardConfig's own bf16=True and gradient_checkpointing=True",
    "dpo": "DPOConfig's own bf16=True and gradient_checkpointing=True",
    "ppo": "PPOConfig's own bf16=True and gradient_checkpointing=True",
    "rloo": "RLOOConfig's own bf16=True and gradient_checkpointing=True",
    "grpo": "GRPOConfig's own bf16=True and gradient_checkpointing=True",
}


def prerequisites(base: Path) -> dict:
    """Build, once and untimed, what the compared stages start from: tokenizers, a pre-trained GPT, its SFT and
    reward models, a masked-LM BERT. hfpipeline keeps the stages already done in `base`."""
    short = {"logging_steps": 10, "save_strategy": "no"}
    stages = [
        {"name": "tok", "kind": "tokenizer", "type": "bpe", "vocab_size": 4000, "data": "demo:corpus"},
        {
            "name": "pretrain",
            "kind": "pretrain",
            "model": GPT,
            "tokenizer": "tok",
            "data": "demo:corpus",
            "train": {"max_steps": 40, "learning_rate": 2e-3, "per_device_train_batch_size": 16, **short},
        },
        {
            "name": "sft",
            "kind": "sft",
            "model": "pretrain",
            "data": "demo:instructions",
            "train": {"max_steps": 20, "learning_rate": 1e-3, "per_device_train_batch_size": 16, **short},
        },
        {
            "name": "reward",
            "kind": "reward",
            "model": "sft",
            "data": "demo:preferences",
            "train": {"max_steps": 10, "learning_rate": 5e-4, "per_device_train_batch_size": 16, **short},
        },
        {
            "name": "wordpiece",
            "kind": "tokenizer",
            "type": "wordpiece",
            "vocab_size": 2000,
            "data": "demo:review_corpus",
        },
        {
            "name": "mlm",
            "kind": "pretrain",
            "objective": "mlm",
            "model": BERT,
            "tokenizer": "wordpiece",
            "block_size": 64,
            "data": "demo:review_corpus",
            "train": {"max_steps": 20, "learning_rate": 1e-3, "per_device_train_batch_size": 32, **short},
        },
        {
            "name": "unigram",
            "kind": "tokenizer",
            "type": "unigram",
            "vocab_size": 2000,
            "data": {"path": "demo:summaries", "text_field": "document"},
        },
    ]
    recipe = {"name": "compare-base", "seed": SEED, "output_dir": str(base), "stages": stages}
    if not (base / "run.json").exists() or any(
        s.get("status") != "done" for s in json.loads((base / "run.json").read_text()).get("stages", [])
    ):
        print(f"building the shared models in {base} (once, untimed) ...", flush=True)
        path = base.parent / "base.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(recipe))
        done = subprocess.run([sys.executable, "-m", "hfpipeline", "run", str(path)], env=env(), text=True)
        if done.returncode:
            sys.exit("building the shared models failed")
    return {name: str(base / name) for name in ("tok", "pretrain", "sft", "reward", "wordpiece", "mlm", "unigram")}


def held_out(name: str, work: Path, splits=("validation",)) -> dict:
    """A data block whose train split is the whole demo file NAME, as the plain scripts read it (so both sides train
    on the same rows in the same order: the batches pad alike), with its first 64 rows as the evaluation split(s)
    hfpipeline wants, instead of the rows it would hold out of train."""
    (work / "data").mkdir(parents=True, exist_ok=True)
    small = work / "data" / f"{name}-64.jsonl"
    small.write_text("".join((DEMO / f"{name}.jsonl").read_text().splitlines(keepends=True)[:64]))
    return {"path": {"train": str(DEMO / f"{name}.jsonl"), **{split: str(small) for split in splits}}}


def specs(m: dict, work: Path) -> dict:
    """Per kind: the hfpipeline stage (A) and the plain script's spec (B; C adds defaults: true), the same work."""
    rl = {"batch": 16, "steps": 6, "num_generations": 4, "max_completion_length": 24, "temperature": 0.7}
    rl.update(beta=0.05, lr=1e-4, seed=SEED, model=m["sft"], reward_model=m["reward"])
    rl["data"] = str(DEMO / "preferences.jsonl")
    rl_train = {k: rl[k] for k in ("num_generations", "max_completion_length", "temperature", "beta")} | {
        "per_device_train_batch_size": rl["batch"],
        "max_steps": rl["steps"],
        "learning_rate": rl["lr"],
    }
    rl_stage = {"policy": m["sft"], "reward_model": m["reward"], "data": "demo:preferences"}
    rl_stage["eval_prompts"] = "demo:prompts"

    def train(plain: dict, **extra) -> dict:
        return {
            "per_device_train_batch_size": plain["batch"],
            "max_steps": plain["steps"],
            "learning_rate": plain["lr"],
            **extra,
        }

    pretrain = {"tokenizer": m["tok"], "data": str(DEMO / "corpus.jsonl"), "batch": 16, "steps": 20, "lr": 2e-3}
    classify = {"model": m["mlm"], "data": str(DEMO / "reviews.jsonl"), "batch": 32, "steps": 20, "lr": 5e-4}
    classify["max_length"] = 128
    sft = {"model": m["pretrain"], "data": str(DEMO / "instructions.jsonl"), "batch": 16, "steps": 20, "lr": 1e-3}
    sft["max_length"] = 128
    reward = {"model": m["sft"], "data": str(DEMO / "preferences.jsonl"), "batch": 16, "steps": 20, "lr": 5e-4}
    reward["max_length"] = 128
    dpo = {**reward, "steps": 12, "lr": 1e-4, "beta": 0.1}
    ppo = {"model": m["sft"], "reward_model": m["reward"], "data": str(DEMO / "preferences.jsonl"), "batch": 16}
    ppo.update(steps=4, response_length=24, kl_coef=0.05, lr=3e-5)
    seq2seq = {"tokenizer": m["unigram"], "data": str(DEMO / "summaries.jsonl"), "batch": 16, "steps": 20}
    seq2seq.update(lr=2e-3, max_source_length=192, max_target_length=64)
    return {
        "pretrain": (
            {
                "kind": "pretrain",
                "model": GPT,
                "tokenizer": m["tok"],
                "data": held_out("corpus", work),
                "train": train(pretrain),
            },
            pretrain,
        ),
        "classify": (
            {
                "kind": "classify",
                "model": m["mlm"],
                "max_length": 128,
                "data": held_out("reviews", work, ("validation", "test")),
                "train": train(classify),
            },
            classify,
        ),
        "sft": (
            {"kind": "sft", "model": m["pretrain"], "data": held_out("instructions", work), "train": train(sft)},
            sft,
        ),
        "reward": (
            {"kind": "reward", "model": m["sft"], "data": held_out("preferences", work), "train": train(reward)},
            reward,
        ),
        "dpo": (
            {"kind": "dpo", "model": m["sft"], "data": held_out("preferences", work), "train": train(dpo, beta=0.1)},
            dpo,
        ),
        "ppo": (
            {
                "kind": "ppo",
                "policy": m["sft"],
                "reward_model": m["reward"],
                "data": "demo:preferences",
                "eval_prompts": "demo:prompts",
                "train": {
                    "per_device_train_batch_size": 16,
                    "total_episodes": 16 * ppo["steps"],
                    "response_length": ppo["response_length"],
                    "kl_coef": ppo["kl_coef"],
                    "learning_rate": ppo["lr"],
                },
            },
            ppo,
        ),
        "rloo": ({"kind": "rloo", **rl_stage, "train": rl_train}, {**rl, "trainer": "RLOOTrainer"}),
        "grpo": ({"kind": "grpo", **rl_stage, "train": rl_train}, {**rl, "trainer": "GRPOTrainer"}),
        "seq2seq": (
            {
                "kind": "seq2seq",
                "task": "summarize",
                "prefix": "summarize: ",
                "model": T5,
                "tokenizer": m["unigram"],
                "max_source_length": 192,
                "max_target_length": 64,
                "data": {
                    **held_out("summaries", work, ("validation", "test")),
                    "source_field": "document",
                    "target_field": "summary",
                },
                "train": train(seq2seq),
            },
            seq2seq,
        ),
    }


def env() -> dict:
    """The same environment for every process: offline, one thread unless the caller set OMP_NUM_THREADS."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}


def measure(kind: str, variant: str, stage: dict, plain: dict, work: Path) -> dict:
    """One run of `variant` (hfpipeline | plain | defaults) in a fresh process; its figures from the probe."""
    folder = work / kind / variant
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "probe.json"
    out.unlink(missing_ok=True)
    if variant == "hfpipeline":
        recipe = {"name": kind, "seed": SEED, "output_dir": str(folder / "run"), "stages": [{"name": kind, **stage}]}
        (folder / "recipe.yaml").write_text(json.dumps(recipe))  # JSON is YAML
        target = ["hfpipeline", str(folder / "recipe.yaml")]
    else:
        script = REPO / "bench/plain" / ("rl.py" if kind in ("rloo", "grpo") else f"{kind}.py")
        spec = {**plain, "seed": SEED, "out": str(folder / "out"), "defaults": variant == "defaults"}
        target = ["plain", str(script), json.dumps(spec)]
    log = folder / "log.txt"
    with log.open("w") as f:
        done = subprocess.run(
            [sys.executable, str(REPO / "bench/_probe.py"), str(out), *target],
            env={**env(), "BENCH_T0": repr(time.time())},
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    if done.returncode or not out.exists():
        sys.exit(f"{kind} {variant} failed (exit {done.returncode}); its output: {log}\n{log.read_text()[-2000:]}")
    return json.loads(out.read_text())


def differences(a: dict, b: dict, variant: str) -> dict:
    """What makes run `b` other work than run `a` (the hfpipeline stage): config fields that define the work
    (bench/_probe.py WORK) and, for the plain script, precision and activation checkpointing."""
    keys = a["config"].keys() | b["config"].keys()
    differ = {k: (a["config"].get(k), b["config"].get(k)) for k in keys if a["config"].get(k) != b["config"].get(k)}
    if variant == "plain":
        differ.update({k: (a[k], b[k]) for k in ("precision", "checkpointing", "steps") if a[k] != b[k]})
    return differ


def trl_has_ppo() -> bool:
    """TRL < 1.13 still has PPOTrainer (trl.experimental.ppo); asked of the metadata, so this process loads no TRL."""
    from importlib.metadata import version

    major, minor = (int(x) for x in version("trl").split(".")[:2])
    return (major, minor) < (1, 13)


FIGURES = ("tokens_per_s", "tokens_per_cpu_s", "samples_per_s", "peak_rss_mb", "first_step_s")


def median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def summary(kind: str, runs: dict) -> dict:
    """Medians per variant and the ratios hfpipeline / plain and hfpipeline / library defaults."""
    row = {"kind": kind}
    for variant, rs in runs.items():
        row[variant] = {k: median(rs, k) for k in FIGURES}
        row[variant]["precision"] = rs[0]["precision"]
        row[variant]["checkpointing"] = rs[0]["checkpointing"]
        row[variant]["all_tokens_per_s"] = [round(r["tokens_per_s"]) for r in rs]
    a = row["hfpipeline"]["tokens_per_s"]
    cpu = row["hfpipeline"]["tokens_per_cpu_s"]
    row["ratio_plain"] = a / row["plain"]["tokens_per_s"]
    row["ratio_plain_cpu"] = cpu / row["plain"]["tokens_per_cpu_s"]
    if "defaults" in row:
        row["ratio_defaults"] = a / row["defaults"]["tokens_per_s"]
        row["ratio_defaults_cpu"] = cpu / row["defaults"]["tokens_per_cpu_s"]
    return row


def print_table(rows: list[dict]) -> None:
    print(
        f"\n{'kind':9} {'tok/s A':>8} {'tok/s B':>8} {'A/B':>5} {'cpu A/B':>7} {'tok/s C':>8} {'A/C':>5} "
        f"{'cpu A/C':>7} {'smp/s A':>8} {'smp/s B':>8} {'RSS A':>6} {'RSS B':>6} {'1st A':>6} {'1st B':>6}"
    )
    nan = float("nan")
    for r in rows:
        a, b, c = r["hfpipeline"], r["plain"], r.get("defaults") or {}
        print(
            f"{r['kind']:9} {a['tokens_per_s']:8.0f} {b['tokens_per_s']:8.0f} {r['ratio_plain']:5.2f} "
            f"{r['ratio_plain_cpu']:7.2f} {c.get('tokens_per_s', nan):8.0f} {r.get('ratio_defaults', nan):5.2f} "
            f"{r.get('ratio_defaults_cpu', nan):7.2f} {a['samples_per_s']:8.1f} {b['samples_per_s']:8.1f} "
            f"{a['peak_rss_mb']:6.0f} {b['peak_rss_mb']:6.0f} {a['first_step_s']:6.1f} {b['first_step_s']:6.1f}"
        )
    print(
        "A hfpipeline stage, B plain script (same work), C plain script with the library's defaults (medians). "
        "tok/s: non-pad tokens per wall-clock second after the first step; cpu A/B, cpu A/C: the same ratio in "
        "tokens per CPU second of the process (steadier on a shared machine); smp/s: sequences per second; RSS: "
        "peak MB; 1st: seconds from process start to the end of the first step."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=3, help="A/B(/C) rounds per kind (default 3)")
    parser.add_argument("--kinds", nargs="+", help="kinds to compare (default: all trainable kinds)")
    parser.add_argument("--json", help="save the table (and every run's figures) to this file")
    parser.add_argument("--work", default="/tmp/hfpipeline-compare", help="folder for models and runs")
    args = parser.parse_args()
    start = time.time()
    work = Path(args.work)
    kinds = args.kinds or ["pretrain", "classify", "sft", "reward", "dpo", "ppo", "rloo", "grpo", "seq2seq"]
    if "ppo" in kinds and not trl_has_ppo():
        print("ppo: skipped (TRL >= 1.13 has no PPOTrainer; install TRL < 1.13 to compare it)")
        kinds.remove("ppo")
    load = [os.getloadavg()]
    table = specs(prerequisites(work / "base"), work)
    runs = {
        kind: {v: [] for v in ("hfpipeline", "plain", "defaults") if v != "defaults" or kind in LIBRARY_DEFAULTS}
        for kind in kinds
    }
    for i in range(args.pairs):
        for kind in kinds:
            for variant in runs[kind]:
                r = measure(kind, variant, *table[kind], work)
                runs[kind][variant].append(r)
                differ = differences(runs[kind]["hfpipeline"][0], r, variant) if variant != "hfpipeline" else {}
                if differ:
                    sys.exit(f"{kind}: the {variant} run did other work than the hfpipeline stage: {differ}")
                print(f"round {i + 1} {kind:8} {variant:10} {r.get('tokens_per_s', 0):8.0f} tok/s", flush=True)
            load.append(os.getloadavg())
    rows = [summary(kind, runs[kind]) for kind in kinds]
    print_table(rows)
    for kind in kinds:
        if kind in LIBRARY_DEFAULTS:
            print(f"C for {kind}: {LIBRARY_DEFAULTS[kind]}")
    loads = [one for one, _, _ in load]
    wall = time.time() - start
    print(
        f"\n{wall / 60:.1f} min in all; {os.cpu_count()} cores; 1-min load average {min(loads):.1f}-{max(loads):.1f} "
        f"during the run; OMP_NUM_THREADS={env()['OMP_NUM_THREADS']}; {versions()}"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"rows": rows, "runs": runs, "wall_s": wall, "load": load, "versions": versions()}, indent=1)
        )


def versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{p} {version(p)}" for p in ("torch", "transformers", "trl", "accelerate", "datasets"))


if __name__ == "__main__":
    main()

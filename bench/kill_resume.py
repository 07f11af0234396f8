"""Kill and resume, for every trainable kind (pretrain clm and mlm, classify, sft, reward, dpo, ppo, rloo, grpo,
seq2seq): an uninterrupted run, a run SIGKILLed two steps after its first checkpoint then rerun, and the same with
SIGTERM. sft-timed sets no save_strategy, so it runs on hfpipeline's default time-based checkpoints (every
TIMED_SECONDS here instead of 5 minutes), and is also stopped with SIGINT (Ctrl-C).
Prints the steps the rerun redid (at most the steps between checkpoints) and the final headline metric of each run,
and on stderr the last line an interrupted run printed. Tiny models, few steps.

Run: OMP_NUM_THREADS=1 python bench/kill_resume.py [--out /tmp/kill-resume] [--kinds sft ppo ...]
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hfpipeline.training import last_complete_checkpoint  # noqa: E402

GPT = {"from_config": "gpt2", "n_layer": 1, "n_embd": 32, "n_head": 2, "n_positions": 128}
BERT = {
    "from_config": "bert",
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 128,
}
T5 = {
    "from_config": "t5",
    "d_model": 32,
    "d_kv": 8,
    "d_ff": 64,
    "num_heads": 2,
    "num_layers": 1,
    "num_decoder_layers": 1,
}
SAVE = 5
LOST = 2  # steps past the first checkpoint at which the run is killed
TIMED_SECONDS = 1  # sft-timed: training.SAVE_EVERY_SECONDS in its runs
# `python -c` with hfpipeline's timed checkpoints due every TIMED_SECONDS; argv as `hfpipeline`'s
TIMED_RUN = (
    "import sys, hfpipeline.training as t; t.SAVE_EVERY_SECONDS = {}; from hfpipeline.cli import main; "
    "sys.exit(main(sys.argv[1:]))"
)
TRAIN = {
    "max_steps": 20,
    "save_strategy": "steps",
    "save_steps": SAVE,
    "logging_steps": 1,
    "learning_rate": 2e-3,
    "per_device_train_batch_size": 8,
}


def prerequisites(out: Path) -> Path:
    """Tokenizers, an SFT policy and a reward model the kinds below start from (built once)."""
    run_dir = out / "prereq"
    recipe = {
        "name": "prereq",
        "seed": 0,
        "output_dir": str(run_dir),
        "stages": [
            {
                "name": "bpe",
                "kind": "tokenizer",
                "vocab_size": 400,
                "model_max_length": 128,
                "data": {"path": "demo:corpus", "max_rows": 600},
            },
            {
                "name": "wordpiece",
                "kind": "tokenizer",
                "type": "wordpiece",
                "vocab_size": 400,
                "model_max_length": 128,
                "data": {"path": "demo:review_corpus", "max_rows": 600},
            },
            {
                "name": "unigram",
                "kind": "tokenizer",
                "type": "unigram",
                "vocab_size": 400,
                "data": {"path": "demo:summaries", "text_field": ["document", "summary"]},
            },
            {
                "name": "sft",
                "kind": "sft",
                "model": GPT,
                "tokenizer": "bpe",
                "data": {"path": "demo:instructions", "max_rows": 240},
                "train": {**TRAIN, "save_strategy": "no"},
            },
            {
                "name": "rm",
                "kind": "reward",
                "model": "sft",
                "data": {"path": "demo:preferences", "max_rows": 240},
                "train": {**TRAIN, "save_strategy": "no"},
            },
        ],
    }
    _run(recipe, out / "prereq.yaml")
    return run_dir


def stages(pre: Path) -> dict:
    """One stage per trainable kind, each saving every SAVE steps; sft-timed on timed checkpoints."""
    return {
        "pretrain-clm": {
            "kind": "pretrain",
            "model": GPT,
            "tokenizer": str(pre / "bpe"),
            "block_size": 32,
            "data": {"path": "demo:corpus", "max_rows": 400},
            "train": TRAIN,
        },
        "pretrain-mlm": {
            "kind": "pretrain",
            "objective": "mlm",
            "model": BERT,
            "tokenizer": str(pre / "wordpiece"),
            "block_size": 32,
            "data": {"path": "demo:review_corpus", "max_rows": 400},
            "train": TRAIN,
        },
        "classify": {
            "kind": "classify",
            "model": BERT,
            "tokenizer": str(pre / "wordpiece"),
            "data": {"path": "demo:reviews", "max_rows": 300},
            "train": {**TRAIN, "eval_strategy": "steps", "eval_steps": SAVE},
        },  # its best model is kept
        "sft": {
            "kind": "sft",
            "model": GPT,
            "tokenizer": str(pre / "bpe"),
            "data": {"path": "demo:instructions", "max_rows": 240},
            "train": TRAIN,
        },
        "sft-timed": {  # no save_strategy: hfpipeline's own checkpoints, by time
            "kind": "sft",
            "model": GPT,
            "tokenizer": str(pre / "bpe"),
            "data": {"path": "demo:instructions", "max_rows": 240},
            "train": {**{k: v for k, v in TRAIN.items() if not k.startswith("save_")}, "max_steps": 200},
        },
        "reward": {
            "kind": "reward",
            "model": str(pre / "sft"),
            "data": {"path": "demo:preferences", "max_rows": 240},
            "train": TRAIN,
        },
        "dpo": {
            "kind": "dpo",
            "model": str(pre / "sft"),
            "data": {"path": "demo:preferences", "max_rows": 240},
            "train": TRAIN,
        },
        "ppo": {
            "kind": "ppo",
            "policy": str(pre / "sft"),
            "reward_model": str(pre / "rm"),
            "data": {"path": "demo:prompts", "max_rows": 120},
            "train": {
                "total_episodes": 64,
                "per_device_train_batch_size": 4,
                "response_length": 12,
                "num_ppo_epochs": 1,
                "save_strategy": "steps",
                "save_steps": 4,
                "logging_steps": 1,
                "learning_rate": 1e-4,
            },
        },
        **{
            kind: {  # TRL's maintained RL trainers; rl_shared rounds save_steps to generation boundaries
                "kind": kind,
                "policy": str(pre / "sft"),
                "reward_model": str(pre / "rm"),
                "data": {"path": "demo:prompts", "max_rows": 120},
                "train": {
                    "max_steps": 20,
                    "per_device_train_batch_size": 8,
                    "num_generations": 4,
                    "max_completion_length": 12,
                    "save_strategy": "steps",
                    "save_steps": SAVE,
                    "logging_steps": 1,
                    "learning_rate": 1e-4,
                },
            }
            for kind in ("rloo", "grpo")
        },
        "seq2seq": {
            "kind": "seq2seq",
            "task": "summarize",
            "model": T5,
            "tokenizer": str(pre / "unigram"),
            "max_source_length": 96,
            "max_target_length": 32,
            "generation": {"max_new_tokens": 16},
            "data": {
                "path": "demo:summaries",
                "source_field": "document",
                "target_field": "summary",
                "test_size": 20,
                "max_rows": 200,
            },
            "train": TRAIN,
        },
    }


def _run(recipe: dict, path: Path, sig=None) -> tuple[subprocess.CompletedProcess | None, int | None]:
    """Run a recipe in a second process; with `sig`, send it right after the first complete checkpoint and return
    the last step its progress bar showed."""
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    train = recipe["stages"][0].get("train")  # the stage under test's (the prerequisites start with a tokenizer)
    timed = train is not None and "save_strategy" not in train
    how = ["-c", TIMED_RUN.format(TIMED_SECONDS)] if timed else ["-m", "hfpipeline"]
    cmd = [sys.executable, *how, "run", str(path)]
    if sig is None:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{path}: exit {done.returncode}\n{done.stderr[-2000:]}")
        return None, None
    log = path.with_suffix(".log")
    total = train.get("max_steps") or train["total_episodes"] // train["per_device_train_batch_size"]
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, env=env, stderr=err, stdout=subprocess.DEVNULL)
        stage_dir = Path(recipe["output_dir"]) / recipe["stages"][0]["name"]
        # kill LOST steps after the first complete checkpoint: the rerun must redo them, and only them
        while proc.poll() is None and (_progress(log, total) or 0) < _newest_checkpoint(stage_dir) + LOST:
            time.sleep(0.01)
        proc.send_signal(sig)
        proc.wait()
    return proc.returncode, _progress(log, total)


def _newest_checkpoint(stage_dir: Path) -> float:
    """The step of the newest complete checkpoint (infinite while there is none)."""
    checkpoint = _quiet(last_complete_checkpoint, stage_dir / "checkpoints")
    return int(checkpoint.name.split("-")[1]) if checkpoint else float("inf")


def _progress(log: Path, total: int) -> int | None:
    """The last step the training progress bar showed."""
    bars = re.findall(r"(?:^|[\r\n]) *\d+%\|[^|\r\n]*\| *(\d+)/(\d+) \[", log.read_text())  # unlabelled: the Trainer's
    steps = [int(n) for n, t in bars if int(t) == total]
    return max(steps) if steps else None


def _quiet(fn, *args):
    import contextlib
    import io

    with contextlib.redirect_stderr(io.StringIO()):
        return fn(*args)


def one(name: str, stage: dict, out: Path, sig) -> dict:
    run_dir = out / f"{name}-{sig.name if sig else 'whole'}"
    recipe = {"name": name, "seed": 0, "output_dir": str(run_dir), "stages": [{"name": name, **stage}]}
    start = time.time()
    killed_rc, killed_at = _run(recipe, out / f"{run_dir.name}.yaml", sig) if sig else (None, None)
    said = (out / f"{run_dir.name}.log").read_text().strip().splitlines()[-1] if sig else None  # Ctrl-C's line
    _run(recipe, out / f"{run_dir.name}.yaml")
    metrics = json.loads((run_dir / name / "metrics.json").read_text())
    entry = json.loads((run_dir / "run.json").read_text())["stages"][0]
    head = entry["headline"]
    resumed = metrics.get("resumed_from_step", 0)
    return {
        "kind": name,
        "signal": sig.name if sig else "-",
        "exit": killed_rc,
        "killed_at_step": killed_at,
        "resumed_from": resumed,
        "redone": (killed_at - resumed) if killed_at is not None else None,
        "metric": head["metric"],
        "value": head["value"],
        "steps": metrics.get("train_steps"),
        "train_loss": metrics.get("train_loss", metrics.get("train_scores_last")),
        "attempts": len(entry.get("attempts") or []),
        "wall_s": round(time.time() - start, 1),
        "last_line": said,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/kill-resume")
    parser.add_argument("--kinds", nargs="*")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pre = prerequisites(out)
    rows = []
    for name, stage in stages(pre).items():
        if args.kinds and name not in args.kinds:
            continue
        for sig in (None, signal.SIGKILL, signal.SIGTERM, *([signal.SIGINT] if name == "sft-timed" else [])):
            rows.append(one(name, stage, out, sig))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(table(rows))
    print(f"load average {os.getloadavg()[0]:.1f} (shared machine)")


def table(rows: list[dict]) -> str:
    lines = [
        "| kind | signal | exit | killed at step | resumed from | steps redone | metric | uninterrupted | "
        "resumed | diff | train loss (ppo: last score) uninterrupted / resumed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    whole = {r["kind"]: r["value"] for r in rows if r["signal"] == "-"}
    loss = {r["kind"]: r["train_loss"] for r in rows if r["signal"] == "-"}
    for r in rows:
        if r["signal"] == "-":
            continue
        base = whole.get(r["kind"])
        diff = (
            f"{abs(r['value'] - base) / max(abs(base), 1e-12):.2%}"
            if isinstance(base, (int, float)) and isinstance(r["value"], (int, float))
            else "?"
        )
        lines.append(
            f"| {r['kind']} | {r['signal']} | {r['exit']} | {r['killed_at_step']} | {r['resumed_from']} | "
            f"{r['redone']} | {r['metric']} | {base:.6g} | {r['value']:.6g} | {diff} | "
            f"{_g(loss.get(r['kind']))} / {_g(r['train_loss'])} |"
        )
    return "\n".join(lines)


def _g(value) -> str:
    return f"{value:.6g}" if isinstance(value, (int, float)) else "-"


if __name__ == "__main__":
    main()

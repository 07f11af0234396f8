"""A real 2-process data-parallel run on CPU (torchrun, gloo) of the classify and sft stages: both processes finish,
one set of outputs, logging once, every rank holds the saved weights, and the loss follows a 1-process run with the
same global batch. Plus the run-directory behaviour of a single process (cheap checks)."""

import hashlib
import json
import subprocess
import sys

import pytest
from conftest import write_recipe

from hfpipeline import dist

PER_DEVICE = 4  # x 2 processes = the 1-process run's batch of 8
LOSS_TOLERANCE = 1e-4  # fp32 sums in another order (4+4 rows, gloo all-reduce vs 8 rows) drift ~1e-6 over 18 steps

# Runs `hfpipeline` like `python -m hfpipeline`; after each stage's training every rank hashes each tensor it holds,
# the hashes are gathered over torch.distributed (gloo) and rank 0 writes them beside this script.
RANKS_SCRIPT = """
import hashlib, json, sys
from pathlib import Path

import torch
import torch.distributed as dist

from hfpipeline import training
from hfpipeline.cli import main

original_finish = training.finish


def digests(model):
    return {name: hashlib.sha256(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()
            for name, t in model.state_dict().items()}


def finish(trainer, tokenizer, ctx, **handoff):
    every = [None] * dist.get_world_size()
    dist.all_gather_object(every, digests(trainer.model))
    original_finish(trainer, tokenizer, ctx, **handoff)
    if dist.get_rank() == 0:
        (Path(__file__).parent / f"weights-{ctx.stage_dir.name}.json").write_text(json.dumps(every))


training.finish = finish
sys.exit(main())
"""

# no dropout: each process would draw other masks than the single one does
BERT = {
    "from_config": "bert",
    "num_hidden_layers": 2,
    "hidden_size": 32,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
}
GPT2 = {
    "from_config": "gpt2",
    "n_layer": 2,
    "n_embd": 32,
    "n_head": 2,
    "resid_pdrop": 0.0,
    "embd_pdrop": 0.0,
    "attn_pdrop": 0.0,
}


def trainer_stages(batch: int, tokenizers: dict) -> list[dict]:
    train = {"per_device_train_batch_size": batch, "logging_steps": 1, "learning_rate": 1e-3}
    return [
        {
            "name": "cls",
            "kind": "classify",
            "tokenizer": tokenizers["wp"],
            "model": BERT,
            "data": {"path": "demo:reviews", "max_rows": 160},
            "train": {**train, "num_train_epochs": 1},
        },
        {
            "name": "sft",
            "kind": "sft",
            "tokenizer": tokenizers["bpe"],
            "model": GPT2,
            "data": {"path": "demo:instructions", "max_rows": 160},
            "train": {**train, "max_steps": 10},
        },
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The 2-process run (tokenizers, classify, sft) and a 1-process run of the same trainer stages on its
    tokenizers (WordPiece training is not deterministic run to run), global batch 8 in both."""
    root = tmp_path_factory.mktemp("dist")
    (root / "ranks.py").write_text(RANKS_SCRIPT)
    tokenizer_stages = [
        {
            "name": "tok_wp",
            "kind": "tokenizer",
            "type": "wordpiece",
            "vocab_size": 400,
            "data": {"path": "demo:reviews", "max_rows": 400},
        },
        {
            "name": "tok_bpe",
            "kind": "tokenizer",
            "type": "bpe",
            "vocab_size": 400,
            "data": {"path": "demo:corpus", "max_rows": 400},
        },
    ]
    write_recipe(
        root / "two.yaml",
        {
            "name": "two",
            "seed": 7,
            "output_dir": "runs/two",
            "stages": [*tokenizer_stages, *trainer_stages(PER_DEVICE, {"wp": "tok_wp", "bpe": "tok_bpe"})],
        },
    )
    torchrun = [sys.executable, "-m", "torch.distributed.run"]  # what the torchrun command runs
    two = subprocess.run(
        [*torchrun, "--standalone", "--nproc_per_node", "2", "ranks.py", "run", "two.yaml"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert two.returncode == 0, two.stderr[-4000:]
    write_recipe(
        root / "one.yaml",
        {
            "name": "one",
            "seed": 7,
            "output_dir": "runs/one",
            "stages": trainer_stages(
                2 * PER_DEVICE, {"wp": str(root / "runs/two/tok_wp"), "bpe": str(root / "runs/two/tok_bpe")}
            ),
        },
    )
    one = subprocess.run(
        [sys.executable, "-m", "hfpipeline", "run", "one.yaml"], cwd=root, capture_output=True, text=True, timeout=600
    )
    assert one.returncode == 0, one.stderr[-4000:]
    return root, two


def manifest(run_dir):
    return {s["name"]: s for s in json.loads((run_dir / "run.json").read_text())["stages"]}


def losses(stage_dir) -> list[float]:
    history = json.loads((stage_dir / "trainer_state.json").read_text())["log_history"]
    return [h["loss"] for h in history if "loss" in h]


@pytest.mark.slow
def test_both_processes_finish_with_one_set_of_outputs(runs):
    root, two = runs
    run = root / "runs/two"
    stages = manifest(run)
    assert [s["status"] for s in stages.values()] == ["done"] * 4
    for name in ("cls", "sft"):
        assert stages[name]["distributed"] == {"processes": 2, "type": "MULTI_CPU", "backend": "gloo"}
        assert stages[name]["global_batch"] == PER_DEVICE * 2  # per device x processes x accumulation (1)
    assert sorted(p.name for p in run.iterdir()) == [
        "cls",
        "plots",
        "recipe.resolved.yaml",
        "report.md",
        "run.json",
        "sft",
        "tok_bpe",
        "tok_wp",
    ]
    for name in ("cls", "sft"):
        files = {p.name for p in (run / name).iterdir()}
        assert {
            "model.safetensors",
            "config.json",
            "tokenizer.json",
            "hfpipeline.json",
            "metrics.json",
            "trainer_state.json",
        } <= files
        assert "checkpoints" not in files
    assert not list(run.rglob("*.tmp"))
    # the main process speaks for both: stage lines, trainer logs and the summary once each
    for name in ("tok_wp", "tok_bpe", "cls", "sft"):
        assert two.stderr.count(f"[{name}] run: ") == 1
    for name in ("cls", "sft"):  # the Trainer's raw logs: once, from the main process, in the stage's log
        assert (run / name / "stage.log").read_text().count('"train_runtime"') == 1
    assert summary_tables(two.stdout) == 1


def summary_tables(stdout: str) -> int:
    return sum(line.split()[:3] == ["stage", "kind", "status"] for line in stdout.splitlines())


def saved_digests(stage_dir) -> dict:
    import torch
    from safetensors.torch import load_file

    return {
        name: hashlib.sha256(t.contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()
        for name, t in load_file(stage_dir / "model.safetensors").items()
    }


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["cls", "sft"])
def test_saved_weights_equal_what_every_rank_holds(runs, stage):
    root, _ = runs
    ranks = json.loads((root / f"weights-{stage}.json").read_text())  # gathered from both ranks
    assert len(ranks) == 2
    saved = saved_digests(root / "runs/two" / stage)
    assert len(saved) > 10 and set(saved) <= set(ranks[0])  # tied weights (GPT-2's lm_head) are saved once
    for rank, held in enumerate(ranks):
        differing = [name for name in saved if held[name] != saved[name]]
        assert not differing, f"rank {rank} holds other weights than were saved: {differing[:3]}"


@pytest.mark.slow
@pytest.mark.parametrize("stage,steps", [("cls", 18), ("sft", 10)])
def test_loss_matches_one_process_with_the_same_global_batch(runs, stage, steps):
    root, _ = runs
    two, one = losses(root / "runs/two" / stage), losses(root / "runs/one" / stage)
    assert len(two) == len(one) == steps
    assert max(one) - min(one) > 100 * LOSS_TOLERANCE  # the losses move far more than the tolerance
    worst = max(abs(a - b) for a, b in zip(two, one))
    assert worst < LOSS_TOLERANCE, f"per-step losses differ by up to {worst:.2e}: 2 processes {two} vs 1 {one}"


def test_single_process_describes_itself_without_accelerate(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert dist.is_main() and dist.describe() == {"processes": 1, "type": "NO"}
    dist.wait()  # no process group: a no-op


def test_accelerate_still_has_the_private_reset_that_joins_cpu_processes():
    """dist.join_cpu_job relies on PartialState._reset_state; if accelerate renames or drops it, fail here, loudly,
    rather than letting 2-process CPU runs train apart."""
    from accelerate import PartialState

    assert callable(getattr(PartialState, "_reset_state", None)), (
        "accelerate no longer has PartialState._reset_state: update hfpipeline.dist.join_cpu_job"
    )

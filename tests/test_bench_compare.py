"""bench/compare.py measures both sides the same way: the probe's token counts, the same-work check, and specs
where the hfpipeline stage and the plain script are given the same batch, steps and learning rate. No timings."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_probe_counts_non_pad_tokens_of_each_batch_shape():
    import torch

    probe = load("_probe")
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    assert probe.batch_size({"input_ids": torch.zeros(2, 4), "attention_mask": mask}) == (5, 2)
    # RLOO/GRPO: prompts and completions
    rl = {"prompt_mask": mask, "completion_mask": torch.tensor([[1, 0], [1, 1]]), "prompt_ids": torch.zeros(2, 4)}
    assert probe.batch_size(rl) == (8, 2)
    # seq2seq: target tokens (labels other than -100) as well
    labels = torch.tensor([[5, 6, -100], [7, -100, -100]])
    assert probe.batch_size({"input_ids": torch.zeros(2, 4), "attention_mask": mask, "labels": labels}) == (8, 2)
    # no mask (blocks of a pre-training corpus): every token
    assert probe.batch_size({"input_ids": torch.zeros(3, 8)}) == (24, 3)


def test_other_work_is_named_and_library_defaults_may_differ_only_in_precision():
    compare = load("compare")
    a = {"config": {"max_length": 128, "seed": 42}, "precision": "fp32", "checkpointing": False, "steps": 20}
    assert compare.differences(a, dict(a), "plain") == {}
    longer = {**a, "config": {"max_length": 256, "seed": 42}}
    assert compare.differences(a, longer, "plain") == {"max_length": (128, 256)}
    bf16 = {**a, "precision": "bf16", "checkpointing": True}
    assert compare.differences(a, bf16, "plain") == {"precision": ("fp32", "bf16"), "checkpointing": (False, True)}
    assert compare.differences(a, bf16, "defaults") == {}


@pytest.mark.parametrize("kind", ["pretrain", "classify", "sft", "reward", "dpo", "rloo", "grpo", "seq2seq"])
def test_both_sides_get_the_same_batch_steps_learning_rate_and_rows(kind, tmp_path):
    compare = load("compare")
    models = {name: f"/models/{name}" for name in ("tok", "pretrain", "sft", "reward", "wordpiece", "mlm", "unigram")}
    stage, plain = compare.specs(models, tmp_path)[kind]
    train = stage["train"]
    assert (train["per_device_train_batch_size"], train["max_steps"], train["learning_rate"]) == (
        plain["batch"],
        plain["steps"],
        plain["lr"],
    )
    # the same train rows (the plain scripts read the whole demo file: hfpipeline must not hold some out)
    if kind in ("rloo", "grpo"):  # RL kinds hold nothing out when eval_prompts are given
        assert (stage["data"], stage["eval_prompts"]) == ("demo:preferences", "demo:prompts")
    else:
        assert stage["data"]["path"]["train"] == plain["data"]
    assert (BENCH / "plain" / ("rl.py" if kind in ("rloo", "grpo") else f"{kind}.py")).exists()

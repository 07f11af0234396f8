"""dpo stage: the implicit reward margin on held-out pairs improves; implicit prompts, ranked rows, LoRA, ref_model."""

import json

import pytest
import torch
from builders import preferences, stage_and_ctx
from conftest import REPO, write_jsonl

import hfpipeline
from hfpipeline import models
from hfpipeline.cli import main


def test_dpo_improves_the_implicit_reward_margin(decoder, tmp_path):
    run_dir = tmp_path / "run"
    data = write_jsonl(tmp_path / "prefs.jsonl", preferences(120))
    hfpipeline.run(
        {
            "name": "dpo",
            "seed": 0,
            "output_dir": str(run_dir),
            "stages": [
                {
                    "name": "dpo",
                    "kind": "dpo",
                    "model": str(decoder / "sft"),
                    "data": {"path": str(data), "validation_size": 16},
                    "train": {
                        "max_steps": 12,
                        "learning_rate": 2e-3,
                        "per_device_train_batch_size": 8,
                        "beta": 0.1,
                        "logging_steps": 4,
                    },
                }
            ],
        }
    )
    metrics = json.loads((run_dir / "dpo/metrics.json").read_text())
    assert metrics["reward_margin_before"] == pytest.approx(0, abs=1e-6)  # the policy starts as its reference
    assert metrics["reward_margin"] > metrics["reward_margin_before"] + 0.5
    assert metrics["reward_accuracy"] > 0.9 and metrics["eval_loss"] < metrics["eval_loss_before"]
    summary = json.loads((run_dir / "run.json").read_text())["summary"][0]
    assert summary["metric"] == "reward_margin" and summary["value"] == metrics["reward_margin"]
    # the tuned policy reloads as a plain causal LM and prefers the chosen answers more than before
    from transformers import AutoModelForCausalLM

    before = models.load_model(AutoModelForCausalLM, str(decoder / "sft")).eval()
    after = models.load_model(AutoModelForCausalLM, str(run_dir / "dpo")).eval()
    tok = models.load_tokenizer(str(run_dir / "dpo"))
    row = preferences(1)[0]
    gap = [
        logp(m, tok, row["prompt"], row["chosen"]) - logp(m, tok, row["prompt"], row["rejected"])
        for m in (before, after)
    ]
    assert gap[1] > gap[0]


def logp(model, tok, prompt: str, completion: str) -> float:
    """Sum of log-probabilities of `completion` after `prompt`."""
    p = tok(prompt)["input_ids"]
    ids = torch.tensor([p + tok(completion)["input_ids"]])
    with torch.no_grad():
        logits = model(ids).logits[0, :-1].log_softmax(-1)
    return logits[len(p) - 1 :].gather(-1, ids[0, len(p) :, None]).sum().item()


def test_implicit_prompt_is_the_shared_prefix(decoder, tmp_path):
    from hfpipeline.stages import dpo

    rows = [{"chosen": r["prompt"] + r["chosen"], "rejected": r["prompt"] + r["rejected"]} for r in preferences(8)]
    stage, ctx = stage_and_ctx(
        tmp_path,
        {
            "name": "dpo",
            "kind": "dpo",
            "model": str(decoder / "sft"),
            "data": str(write_jsonl(tmp_path / "p.jsonl", rows)),
            "train": {"eval_strategy": "no"},
        },
    )
    trainer, evaluating, _, _ = dpo.build_trainer(stage, ctx)
    tok = trainer.processing_class
    first = trainer.train_dataset[0]
    original = next(r for r in preferences(8) if tok.decode(first["chosen_ids"]).startswith(r["chosen"]))
    assert tok.decode(first["prompt_ids"]) == original["prompt"]
    assert not evaluating


def test_ranked_rows_become_pairs_after_the_split(tmp_path):
    from hfpipeline.stages import dpo

    rows = [
        {
            "prompt": f"User: q{i}\nAssistant:",
            "responses": [" best", " good", " curt"],
            "ranking": [1, 0, 2],
            "tags": {"0": ["inaccurate"]} if i % 2 else {},
        }
        for i in range(10)
    ]
    stage, ctx = stage_and_ctx(
        tmp_path,
        {
            "name": "dpo",
            "kind": "dpo",
            "model": "gpt2",
            "data": {"path": str(write_jsonl(tmp_path / "r.jsonl", rows)), "validation_size": 2},
            "demote_tags": ["inaccurate"],
        },
    )
    splits = dpo.load_data(stage, ctx)
    assert len(splits["train"]) == 8 * 3 and len(splits["validation"]) == 2 * 3  # K(K-1)/2 pairs per row
    train_prompts = set(splits["train"]["prompt"])
    assert not train_prompts & set(splits["validation"]["prompt"])  # no prompt on both sides
    pairs = {(r["prompt"], r["chosen"], r["rejected"]) for s in splits.values() for r in s}
    assert ("User: q0\nAssistant:", " good", " best") in pairs  # the ranking decides
    assert ("User: q1\nAssistant:", " curt", " best") in pairs  # tagged "best" is demoted


def test_dpo_with_lora_saves_only_the_trained_adapters(decoder, tmp_path):
    run_dir = tmp_path / "run"
    data = write_jsonl(tmp_path / "prefs.jsonl", preferences(40))
    held_out = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": r["prompt"]} for r in preferences(3)])
    hfpipeline.run(
        {
            "name": "dpo-lora",
            "seed": 0,
            "output_dir": str(run_dir),
            "stages": [
                {
                    "name": "dpo",
                    "kind": "dpo",
                    "model": str(decoder / "sft"),
                    "data": str(data),
                    "eval_prompts": str(held_out),
                    "peft": {"r": 8, "lora_alpha": 16},
                    "train": {"max_steps": 4, "learning_rate": 5e-3, "per_device_train_batch_size": 8},
                }
            ],
        }
    )
    metrics = json.loads((run_dir / "dpo/metrics.json").read_text())
    assert metrics["reward_margin"] > metrics["reward_margin_before"]
    assert (run_dir / "dpo/adapter_model.safetensors").is_file() and not (run_dir / "dpo/ref").exists()
    # eval_prompts: one response per held-out prompt from the policy before and after, and their KL
    samples = [json.loads(line) for line in (run_dir / "dpo/samples.jsonl").read_text().splitlines()]
    assert [s["prompt"] for s in samples] == [r["prompt"] for r in preferences(3)]
    assert metrics["eval_prompts"] == 3 and metrics["kl"] is not None
    from transformers import AutoModelForCausalLM

    merged = models.load_model(AutoModelForCausalLM, str(run_dir / "dpo"))
    assert type(merged).__name__ == "GPT2LMHeadModel"


def test_ref_model_ref_is_the_reference(decoder, tmp_path):
    from hfpipeline.stages import dpo

    stage, ctx = stage_and_ctx(
        tmp_path,
        {
            "name": "dpo",
            "kind": "dpo",
            "model": str(decoder / "sft"),
            "ref_model": {"from_config": "gpt2", "n_layer": 1, "n_embd": 16, "n_head": 2},
            "data": str(write_jsonl(tmp_path / "p.jsonl", preferences(4))),
            "train": {"eval_strategy": "no"},
        },
    )
    tok = models.stage_tokenizer(stage, ctx)
    reference = dpo.build_reference(stage, ctx, tok, policy=None)
    assert reference.config.n_layer == 1


@pytest.mark.slow
def test_dpo_recipe_end_to_end_with_fewer_steps(tmp_cwd):
    """recipes/dpo.yaml as shipped (tokenizer -> causal-LM pre-training -> sft -> dpo), steps cut for time."""
    assert (
        main(
            [
                "run",
                str(REPO / "recipes/dpo.yaml"),
                "output_dir=run",
                "stages.pretrain.train.max_steps=20",
                "stages.sft.train.max_steps=20",
                "stages.dpo.train.max_steps=10",
                "stages.dpo.eval_prompts={path: demo:prompts, max_rows: 16}",
            ]
        )
        == 0
    )
    manifest = json.loads((tmp_cwd / "run/run.json").read_text())
    assert [s["status"] for s in manifest["stages"]] == ["done"] * 4
    sft, dpo = (json.loads((tmp_cwd / f"run/{name}/metrics.json").read_text()) for name in ("sft", "dpo"))
    assert sft["eval_loss"] < sft["eval_loss_before"]
    assert dpo["reward_margin"] > dpo["reward_margin_before"] + 0.03 and dpo["reward_accuracy"] > 0.6  # 0.27, 1.0
    assert manifest["summary"][3]["metric"] == "reward_margin" and dpo["eval_prompts"] == 16
    assert len((tmp_cwd / "run/dpo/samples.jsonl").read_text().splitlines()) == 16


def test_pairs_over_max_length_are_truncated_and_counted(decoder, tmp_path, capsys):
    from hfpipeline.stages import dpo

    rows = preferences(24)
    for i in range(0, 24, 3):  # a third of the responses run past the 128-token window
        rows[i]["chosen"] += " and then" * 80
    rows[1]["prompt"] = "User: " + "tell me more " * 80 + "\nAssistant:"  # a prompt that alone fills it
    stage, ctx = stage_and_ctx(
        tmp_path,
        {
            "name": "dpo",
            "kind": "dpo",
            "model": str(decoder / "sft"),
            "data": str(write_jsonl(tmp_path / "p.jsonl", rows)),
            "train": {"eval_strategy": "no"},
        },
    )
    trainer, _, _, figures = dpo.build_trainer(stage, ctx)
    assert (figures["rows_in"], figures["rows_truncated"], figures["rows_dropped"]) == (24, 8, 1)
    assert len(trainer.train_dataset) == 23 and 0 < figures["target_tokens_kept"] < 1
    assert "9 of 24 rows longer than max_length 128 tokens: 8 truncated, 1 dropped" in capsys.readouterr().err

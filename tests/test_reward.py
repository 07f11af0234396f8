"""reward stage: pairwise accuracy on held-out pairs rises, tied input/output embeddings save and reload, pairs with
an implicit prompt train, ranked rows expand into pairs."""

import json
from pathlib import Path

import pytest
import torch
from builders import TINY_GPT, preferences, prompt, stage_and_ctx
from conftest import write_jsonl

import hfpipeline
from hfpipeline import card, models
from hfpipeline.errors import UserError


def test_accuracy_on_easy_pairs_rises_above_chance(reward):
    metrics = json.loads((reward / "rm/metrics.json").read_text())
    assert metrics["eval_pairs"] == 24 and metrics["train_pairs"] == 96
    assert metrics["accuracy"] >= 0.9 > metrics["accuracy_before"] + 0.2
    assert metrics["loss_last"] < metrics["loss_first"]
    summary = json.loads((reward / "run.json").read_text())["summary"][0]
    assert summary["metric"] == "accuracy" and summary["value"] == metrics["accuracy"]
    info = card.read(reward / "rm")
    assert info["head"] == {"name": "score", "shape": [1, TINY_GPT["n_embd"]]} and card.is_scorer(info)
    assert not (reward / "rm/checkpoints").exists()


def scores(model_dir: Path, rows: list[dict]) -> torch.Tensor:
    """Reward of prompt+chosen and prompt+rejected per row, as (n, 2)."""
    from transformers import AutoModelForSequenceClassification

    model = models.load_model(AutoModelForSequenceClassification, str(model_dir), num_labels=1).eval()
    tok = models.load_tokenizer(str(model_dir))
    with torch.no_grad():
        return torch.tensor(
            [
                [
                    model(**tok(r["prompt"] + r[k] + tok.eos_token, return_tensors="pt")).logits.item()
                    for k in ("chosen", "rejected")
                ]
                for r in rows
            ]
        )


def test_tied_embeddings_save_and_reload(decoder, tmp_path):
    from transformers import AutoModelForSequenceClassification, GPT2Config, GPT2LMHeadModel

    tok = models.load_tokenizer(str(decoder / "tok"))
    config = GPT2Config(
        n_layer=2,
        n_embd=32,
        n_head=2,
        n_positions=128,
        vocab_size=len(tok),
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        tie_word_embeddings=True,
    )
    lm = GPT2LMHeadModel(config)
    assert lm.lm_head.weight.data_ptr() == lm.transformer.wte.weight.data_ptr()  # really tied
    lm_dir = tmp_path / "lm"
    models.save(lm, tok, lm_dir)
    implicit = [{"chosen": r["prompt"] + r["chosen"], "rejected": r["prompt"] + r["rejected"]} for r in preferences(48)]
    data = write_jsonl(tmp_path / "prefs.jsonl", implicit)  # no prompt column: the shared beginning is the prompt
    run_dir = tmp_path / "run"
    hfpipeline.run(
        {
            "name": "tied",
            "seed": 3,
            "output_dir": str(run_dir),
            "stages": [
                {
                    "name": "rm",
                    "kind": "reward",
                    "model": str(lm_dir),
                    "data": {"path": str(data), "validation_size": 8},
                    "train": {"max_steps": 6, "per_device_train_batch_size": 8},
                }
            ],
        }
    )
    model, info = AutoModelForSequenceClassification.from_pretrained(run_dir / "rm", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert model.config.pad_token_id == tok.pad_token_id and model.config.num_labels == 1
    first, again = scores(run_dir / "rm", preferences(4)), scores(run_dir / "rm", preferences(4))
    assert torch.equal(first, again)  # the score head was saved, not re-initialised at random on load
    assert card.read(run_dir / "rm")["head"]["shape"] == [1, 32]
    assert json.loads((run_dir / "rm/metrics.json").read_text())["train_pairs"] == 40


def ranked_rows(n: int) -> list[dict]:
    """Three responses per prompt: polite, neutral, curt; shuffled, with the ranking saying polite first."""
    rows = []
    for i in range(n):
        polite, curt = preferences(n)[i]["chosen"], preferences(n)[i]["rejected"]
        responses = [curt, " Maybe read the manual.", polite] if i % 2 else [polite, curt, " Maybe read the manual."]
        ranking = [2, 1, 0] if i % 2 else [0, 2, 1]
        rows.append(
            {
                "id": f"r{i}",
                "prompt": prompt(i),
                "responses": responses,
                "ranking": ranking,
                "tags": {str(ranking[0]): ["inaccurate"]} if i == 0 else {},
            }
        )
    return rows


def test_ranked_rows_expand_into_pairs_and_train(decoder, tmp_path):
    data = write_jsonl(tmp_path / "ranked.jsonl", ranked_rows(40))
    run_dir = tmp_path / "run"
    hfpipeline.run(
        {
            "name": "ranked",
            "seed": 0,
            "output_dir": str(run_dir),
            "stages": [
                {
                    "name": "rm",
                    "kind": "reward",
                    "model": str(decoder / "sft"),
                    "data": {"path": str(data), "validation_size": 4},
                    "train": {"max_steps": 16, "learning_rate": 1e-3, "per_device_train_batch_size": 8},
                }
            ],
        }
    )
    metrics = json.loads((run_dir / "rm/metrics.json").read_text())
    assert (metrics["train_pairs"], metrics["eval_pairs"]) == (36 * 3, 4 * 3)  # K*(K-1)/2 pairs per ranked row
    assert metrics["accuracy"] > 0.5


def test_demote_tags_move_tagged_responses_last(decoder, tmp_path):
    from hfpipeline.stages import reward

    rows = ranked_rows(4)
    files = {
        "train": str(write_jsonl(tmp_path / "train.jsonl", rows)),
        "validation": str(write_jsonl(tmp_path / "val.jsonl", rows[1:])),
    }
    for demote, first_pair in (
        ([], (rows[0]["responses"][0], rows[0]["responses"][2])),
        (["inaccurate"], (rows[0]["responses"][2], rows[0]["responses"][1])),
    ):
        stage, ctx = stage_and_ctx(
            tmp_path,
            {
                "name": "rm",
                "kind": "reward",
                "model": str(decoder / "sft"),
                "data": {"path": files},
                "demote_tags": demote,
            },
        )
        pairs = reward.load_pairs(stage, ctx)
        assert len(pairs["train"]) == 12 and len(pairs["validation"]) == 9
        assert (pairs["train"][0]["chosen"], pairs["train"][0]["rejected"]) == first_pair


def test_lora_reward_model_is_a_scorer_that_reloads_merged(decoder, tmp_path):
    data = write_jsonl(tmp_path / "prefs.jsonl", preferences(40))
    run_dir = tmp_path / "run"
    hfpipeline.run(
        {
            "name": "lora",
            "seed": 0,
            "output_dir": str(run_dir),
            "stages": [
                {
                    "name": "rm",
                    "kind": "reward",
                    "model": str(decoder / "sft"),
                    "peft": {"r": 4, "lora_alpha": 8},
                    "data": {"path": str(data), "validation_size": 8},
                    "train": {"max_steps": 4, "per_device_train_batch_size": 8},
                }
            ],
        }
    )
    assert (run_dir / "rm/adapter_config.json").is_file()
    info = card.read(run_dir / "rm")
    assert info["architectures"] == ["GPT2ForSequenceClassification"] and card.is_scorer(info)  # what ppo checks
    assert torch.equal(scores(run_dir / "rm", preferences(3)), scores(run_dir / "rm", preferences(3)))  # head saved


def test_preference_columns_map_from_the_datas_own_names(decoder, tmp_path):
    """prompt_field / chosen_field / rejected_field map another dataset's columns, checked by validate first."""
    rows = [{"question": r["prompt"], "good": r["chosen"], "bad": r["rejected"]} for r in preferences(24)]
    data = {
        "path": str(write_jsonl(tmp_path / "p.jsonl", rows)),
        "prompt_field": "question",
        "chosen_field": "good",
        "rejected_field": "bad",
        "validation_size": 4,
    }
    stage = {"name": "rm", "kind": "reward", "model": str(decoder / "sft"), "data": data, "train": {"max_steps": 2}}
    run_dir = tmp_path / "run"
    hfpipeline.run({"name": "mapped", "seed": 0, "output_dir": str(run_dir), "stages": [stage]})
    metrics = json.loads((run_dir / "rm/metrics.json").read_text())
    assert (metrics["train_pairs"], metrics["eval_pairs"]) == (20, 4)
    del data["rejected_field"]
    with pytest.raises(UserError, match="rejected"):
        hfpipeline.load_recipe({"name": "m", "output_dir": str(run_dir), "stages": [stage]})


def test_pairs_over_max_length_are_counted_held_out_ones_too(decoder, tmp_path, capsys):
    """RewardTrainer silently leaves out pairs over max_length: the stage counts them per split (the held-out
    accuracy then says what it covers), or refuses them with long_rows: error."""
    rows = preferences(40)
    for i in range(0, 40, 4):  # every 4th pair's chosen answer runs past the 128-token window
        rows[i]["chosen"] += " and then" * 80
    files = {
        "train": str(write_jsonl(tmp_path / "t.jsonl", rows[:32])),
        "validation": str(write_jsonl(tmp_path / "v.jsonl", rows[32:])),
    }
    stage = {
        "name": "rm",
        "kind": "reward",
        "model": str(decoder / "sft"),
        "data": {"path": files},
        "train": {"max_steps": 2},
    }
    hfpipeline.run({"name": "long", "seed": 0, "output_dir": str(tmp_path / "run"), "stages": [stage]})
    metrics = json.loads((tmp_path / "run/rm/metrics.json").read_text())
    assert (metrics["rows_in"], metrics["rows_dropped"], metrics["train_pairs"]) == (32, 8, 24)
    assert (metrics["validation_rows_in"], metrics["validation_rows_dropped"], metrics["eval_pairs"]) == (8, 2, 6)
    assert (
        "validation: 2 of 8 rows longer than max_length 128 tokens: 0 truncated, 2 dropped" in capsys.readouterr().err
    )
    assert "mean_reward" not in metrics and "train_batch_mean_reward" in metrics  # TRL's batch figure, named so
    with pytest.raises(UserError, match="8 of 32 train pairs are longer than max_length 128"):
        hfpipeline.run(
            {
                "name": "long",
                "seed": 0,
                "output_dir": str(tmp_path / "run2"),
                "stages": [{**stage, "long_rows": "error"}],
            }
        )

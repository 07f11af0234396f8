"""Stage hand-off checks: what does not fit is reported in one line with exit code 2 before any training starts
(tokenizer or chat-template mismatch, wrong head, refs to the wrong kind of stage, ppo without a reward stage,
prompts longer than the context window, preference rows without chosen/rejected)."""

from pathlib import Path

import pytest
from builders import TINY_GPT, preferences, prompt, stage_and_ctx
from conftest import write_jsonl, write_recipe

import hfpipeline
from hfpipeline import card, handoff, models
from hfpipeline.cli import main


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if a PPO, RLOO, GRPO or reward trainer gets built: the checks must come first."""
    import trl

    def refuse(*args, **kwargs):
        raise AssertionError("a trainer was built before the problem was reported")

    if handoff.ppo_unavailable() is None:
        from trl.experimental.ppo import PPOTrainer

        monkeypatch.setattr(PPOTrainer, "__init__", refuse)
    for name in ("RewardTrainer", "RLOOTrainer", "GRPOTrainer"):
        monkeypatch.setattr(trl, name, refuse)


def run_cli(tmp_path, recipe: dict, capsys) -> tuple[int, str]:
    """`hfpipeline run` on the recipe; exit code and the last stderr line (the error)."""
    code = main(["run", str(write_recipe(tmp_path / "recipe.yaml", recipe))])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.strip().splitlines()[-1]


def scorer(tokenizer, out_dir: Path, num_labels: int = 1) -> Path:
    """An untrained tiny GPT-2 sequence classifier saved with `tokenizer` and its hand-off description."""
    from transformers import GPT2Config, GPT2ForSequenceClassification

    config = GPT2Config(
        n_layer=1,
        n_embd=16,
        n_head=2,
        n_positions=128,
        vocab_size=len(tokenizer),
        num_labels=num_labels,
        pad_token_id=tokenizer.pad_token_id,
    )
    models.save(GPT2ForSequenceClassification(config), tokenizer, out_dir)
    return out_dir


def ppo_recipe(tmp_path, decoder, reward_dir, **train) -> dict:
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": prompt(i)} for i in range(20)])
    return {
        "name": "h",
        "output_dir": str(tmp_path / "run"),
        "stages": [
            {
                "name": "ppo",
                "kind": "ppo",
                "policy": str(decoder / "sft"),
                "reward_model": str(reward_dir),
                "data": str(prompts),
                "train": {"total_episodes": 8, "per_device_train_batch_size": 4, **train},
            }
        ],
    }


@pytest.mark.ppo
def test_reward_model_with_another_tokenizer_stops_ppo(decoder, tmp_path, capsys, no_training):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"text": f"entirely different words number {i}"} for i in range(50)])
    hfpipeline.run(
        {
            "name": "t",
            "output_dir": str(tmp_path / "tok"),
            "stages": [{"name": "tok", "kind": "tokenizer", "data": str(corpus), "vocab_size": 200}],
        }
    )
    other = scorer(models.load_tokenizer(str(tmp_path / "tok/tok")), tmp_path / "rm")
    code, err = run_cli(tmp_path, ppo_recipe(tmp_path, decoder, other), capsys)
    mine = card.read(decoder / "sft")["tokenizer_fingerprint"]
    theirs = card.read(other)["tokenizer_fingerprint"]
    assert code == 2 and "reward model and policy tokenizers differ" in err and "TRL #3595" in err
    assert f"fingerprint {theirs}" in err and f"fingerprint {mine}" in err
    assert not (tmp_path / "run/ppo/model.safetensors").exists()


@pytest.mark.ppo
def test_reward_model_with_another_chat_template_stops_ppo(decoder, tmp_path, capsys, no_training):
    tok = models.load_tokenizer(str(decoder / "sft"))
    tok.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    code, err = run_cli(tmp_path, ppo_recipe(tmp_path, decoder, scorer(tok, tmp_path / "rm")), capsys)
    assert code == 2 and "chat templates differ" in err


@pytest.mark.parametrize("kind", ["rloo", "grpo"])
def test_rloo_and_grpo_take_a_reward_model_with_another_tokenizer_or_chat_template(decoder, tmp_path, kind):
    """TRL's RLOO/GRPO decode the answers and re-tokenize them for each reward model; ppo's check refuses the same
    pair (its trainer hands the policy's token ids to the reward model)."""
    from hfpipeline.errors import UserError

    corpus = write_jsonl(tmp_path / "c.jsonl", [{"text": f"entirely different words number {i}"} for i in range(50)])
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": prompt(i)} for i in range(4)])
    hfpipeline.run(
        {
            "name": "t",
            "output_dir": str(tmp_path / "tok"),
            "stages": [{"name": "tok", "kind": "tokenizer", "data": str(corpus), "vocab_size": 200}],
        }
    )
    templated = models.load_tokenizer(str(decoder / "sft"))
    templated.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    for name, tokenizer, problem in [
        ("rm_tok", models.load_tokenizer(str(tmp_path / "tok/tok")), "tokenizers differ"),
        ("rm_chat", templated, "chat templates differ"),
    ]:
        reward_dir = scorer(tokenizer, tmp_path / name)
        stage, ctx = stage_and_ctx(
            tmp_path,
            {
                "name": kind,
                "kind": kind,
                "policy": str(decoder / "sft"),
                "reward_model": str(reward_dir),
                "data": str(prompts),
            },
        )
        policy, rewards = handoff.check_rl(stage, ctx)
        assert card.is_causal_lm(policy) and card.is_scorer(rewards[0])
        with pytest.raises(UserError, match=problem):
            handoff.check_ppo(stage, ctx)


@pytest.mark.ppo
def test_classifier_with_two_labels_is_not_a_reward_model(decoder, tmp_path, capsys, no_training):
    two = scorer(models.load_tokenizer(str(decoder / "sft")), tmp_path / "clf", num_labels=2)
    code, err = run_cli(tmp_path, ppo_recipe(tmp_path, decoder, two), capsys)
    assert code == 2 and "is not a reward model" in err and "head [2, 16]" in err


@pytest.mark.ppo
def test_prompts_longer_than_the_context_window(decoder, reward, tmp_path, capsys, no_training):
    recipe = ppo_recipe(tmp_path, decoder, reward / "rm")
    long = " ".join(["please"] * 200)
    write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": prompt(i)} for i in range(19)] + [{"prompt": long}])
    recipe["stages"][0]["long_rows"] = "error"
    code, err = run_cli(tmp_path, recipe, capsys)
    assert code == 2 and "rows are longer than 96 (the context window 128 less response_length 32) tokens" in err
    assert ": 1 of " in err


@pytest.mark.ppo
def test_long_prompts_are_dropped_and_counted_by_default(decoder, reward, tmp_path, capsys):
    from trl.experimental.ppo import PPOConfig

    from hfpipeline import training
    from hfpipeline.stages import ppo

    recipe = ppo_recipe(tmp_path, decoder, reward / "rm")
    long = " ".join(["please"] * 200)
    write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": prompt(i)} for i in range(19)] + [{"prompt": long}])
    stage, ctx = stage_and_ctx(tmp_path, recipe["stages"][0])
    infos = handoff.check_ppo(stage, ctx)
    tokenizer = models.stage_tokenizer(stage, ctx, "policy")
    args = training.build_args(PPOConfig, stage, ctx, **ppo.DEFAULTS)
    _, encoded, _, figures = ppo.encode_prompts(stage, ctx, tokenizer, infos, args)
    assert figures["rows_dropped"] + figures.get("eval_rows_dropped", 0) == 1
    assert len(encoded["train"]) + len(encoded["eval"]) == 19
    assert "rows longer than 96 (the context window 128 less response_length 32) tokens" in capsys.readouterr().err


@pytest.mark.ppo
def test_response_length_counts_against_the_context_window(decoder, reward, tmp_path, capsys, no_training):
    recipe = ppo_recipe(tmp_path, decoder, reward / "rm", response_length=120)
    recipe["stages"][0]["long_rows"] = "error"
    code, err = run_cli(tmp_path, recipe, capsys)
    assert code == 2 and "less response_length 120" in err


def chain(tmp_path, *stages) -> dict:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"text": prompt(i)} for i in range(20)])
    prefs = write_jsonl(tmp_path / "prefs.jsonl", preferences(20))
    base = [
        {"name": "tok", "kind": "tokenizer", "data": str(corpus)},
        {"name": "pre", "kind": "pretrain", "model": TINY_GPT, "tokenizer": "tok", "data": str(corpus)},
        {"name": "rm", "kind": "reward", "model": "pre", "data": str(prefs)},
    ]
    return {"name": "c", "output_dir": str(tmp_path / "run"), "stages": base + list(stages)}


@pytest.mark.parametrize(
    "ppo, message",
    [
        ({"policy": "pre", "data": "PROMPTS"}, "stages[3].reward_model: missing. A ppo stage needs reward_model:"),
        (
            {"policy": "pre", "reward_model": "tok", "data": "PROMPTS"},
            "stages[3].reward_model: stage 'tok' is a tokenizer stage; a ppo stage's reward_model: "
            "must be a reward stage",
        ),
        (
            {"policy": "rm", "reward_model": "rm", "data": "PROMPTS"},
            "stages[3].policy: stage 'rm' is a reward stage; a ppo stage's policy: "
            "must be a pretrain or sft or dpo or ppo",
        ),
        ({"policy": "pre", "reward_model": "pre", "data": "PROMPTS"}, "stage 'pre' is a pretrain stage"),
        (
            {"policy": "pre", "reward_model": "rm", "value_model": "tok", "data": "PROMPTS"},
            "stages[3].value_model: stage 'tok' is a tokenizer stage",
        ),
        (
            {"policy": "pre", "reward_model": "rm"},
            "stages[3].data: missing. A ppo stage needs data: with a prompt column",
        ),
        (
            {"policy": TINY_GPT, "reward_model": "rm", "data": "PROMPTS"},
            "stages[3].policy: a ppo stage tunes trained models: name an earlier stage, a folder or a Hub id, "
            "not from_config",
        ),
        (
            {"policy": "pre", "reward_model": "rm", "data": "PROMPTS", "eval_prompts": "demo:promts"},
            "stages[3].eval_prompts.path: no demo dataset 'promts' (did you mean 'prompts'?)",
        ),
    ],
)
def test_ppo_refs_are_checked_at_validation(tmp_path, capsys, ppo, message):
    prompts = str(write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": prompt(i)} for i in range(4)]))
    stage = {"name": "ppo", "kind": "ppo", **{k: prompts if v == "PROMPTS" else v for k, v in ppo.items()}}
    code = main(["run", str(write_recipe(tmp_path / "r.yaml", chain(tmp_path, stage)))])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # found before the run directory was even made


def test_masked_lm_cannot_be_a_policy(tmp_path, capsys):
    recipe = chain(
        tmp_path,
        {"name": "ppo", "kind": "ppo", "policy": "pre", "reward_model": "rm", "data": str(tmp_path / "corpus.jsonl")},
    )
    recipe["stages"][1]["objective"] = "mlm"
    code = main(["validate", str(write_recipe(tmp_path / "r.yaml", recipe))])
    err = capsys.readouterr().err
    assert code == 2 and "stages[3].policy: stage 'pre' pretrains a masked LM (objective: mlm)" in err


def test_preference_file_without_rejected_column_fails_validation(tmp_path, capsys):
    rows = [{"prompt": r["prompt"], "chosen": r["chosen"]} for r in preferences(6)]
    recipe = {
        "name": "p",
        "output_dir": str(tmp_path / "run"),
        "stages": [
            {
                "name": "rm",
                "kind": "reward",
                "model": TINY_GPT,
                "tokenizer": "gpt2",
                "data": str(write_jsonl(tmp_path / "prefs.jsonl", rows)),
            }
        ],
    }
    code = main(["run", str(write_recipe(tmp_path / "r.yaml", recipe))])
    err = capsys.readouterr().err
    assert code == 2 and "prefs.jsonl: missing column 'rejected'" in err and not (tmp_path / "run").exists()


def test_preference_row_without_chosen_stops_the_reward_stage(decoder, tmp_path, capsys, no_training):
    rows = preferences(12)
    del rows[4]["chosen"]
    recipe = {
        "name": "p",
        "output_dir": str(tmp_path / "run"),
        "stages": [
            {
                "name": "rm",
                "kind": "reward",
                "model": str(decoder / "sft"),
                "data": str(write_jsonl(tmp_path / "prefs.jsonl", rows)),
            }
        ],
    }
    code, err = run_cli(tmp_path, recipe, capsys)
    assert code == 2 and "prefs.jsonl:5: no 'chosen' column" in err  # caught by validation, row by row
    assert not (tmp_path / "run").exists()


def test_tokenizer_ref_must_match_the_models_own(decoder, tmp_path, capsys, no_training):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"text": f"other words {i}"} for i in range(30)])
    recipe = {
        "name": "p",
        "output_dir": str(tmp_path / "run"),
        "stages": [
            {"name": "tok", "kind": "tokenizer", "data": str(corpus), "vocab_size": 150},
            {
                "name": "rm",
                "kind": "reward",
                "model": str(decoder / "sft"),
                "tokenizer": "tok",
                "data": str(write_jsonl(tmp_path / "prefs.jsonl", preferences(8))),
            },
        ],
    }
    code, err = run_cli(tmp_path, recipe, capsys)
    assert code == 2 and "tokenizer: stage 'tok'" in err and "is not the tokenizer model:" in err


@pytest.mark.ppo
def test_long_prompts_refused_in_pre_flight_before_any_stage_trains(decoder, reward, tmp_path, capsys, no_training):
    recipe = ppo_recipe(tmp_path, decoder, reward / "rm")
    long = " ".join(["please"] * 200)
    write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": prompt(i)} for i in range(19)] + [{"prompt": long}])
    recipe["stages"][0]["long_rows"] = "error"
    tok = {"name": "tok", "kind": "tokenizer", "data": str(tmp_path / "prompts.jsonl"), "text_field": "prompt"}
    recipe["stages"].insert(0, {**tok, "data": {"path": str(tmp_path / "prompts.jsonl"), "text_field": "prompt"}})
    del recipe["stages"][0]["text_field"]
    code, err = run_cli(tmp_path, recipe, capsys)
    assert code == 2 and "rows are longer than 96 (the context window 128 less response_length 32) tokens" in err
    assert "(the first: row" in err
    assert not (tmp_path / "run" / "tok").exists()  # found before the tokenizer stage ran

"""ppo stage: PPO on tiny models logs reward and KL, saves a policy that reloads and generates and the value model
beside it, compares the SFT and PPO policies on held-out prompts; a killed run resumes from its checkpoint and ends
where an uninterrupted one does."""

import json
from pathlib import Path

import pytest
import torch
from builders import prompt, stage_and_ctx
from conftest import write_jsonl

import hfpipeline
from hfpipeline import card, models
from hfpipeline.errors import UserError

pytestmark = pytest.mark.ppo
TINY_PPO = {
    "total_episodes": 16,
    "per_device_train_batch_size": 4,
    "response_length": 8,
    "num_ppo_epochs": 1,
    "learning_rate": 1e-4,
}


def ppo_stage(decoder: Path, reward: Path, prompts: Path, **extra) -> dict:
    return {
        "name": "ppo",
        "kind": "ppo",
        "policy": str(decoder / "sft"),
        "reward_model": str(reward / "rm"),
        "data": {"path": str(prompts), "validation_size": 6},
        "train": dict(TINY_PPO),
        **extra,
    }


@pytest.fixture(scope="module")
def ppo_run(decoder, reward, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ppo")
    prompts = write_jsonl(root / "prompts.jsonl", [{"prompt": prompt(i), "id": i} for i in range(30)])
    hfpipeline.run(
        {"name": "ppo", "seed": 0, "output_dir": str(root / "run"), "stages": [ppo_stage(decoder, reward, prompts)]}
    )
    return root / "run"


# Enough PPO for the tiny policy to learn what the tiny reward model likes. Measured held-out mean reward SFT -> PPO
# (KL to SFT, nats per answer) for seeds 0/1/2: -0.22 -> 0.07 (0.91), 0.02 -> 0.30 (1.08), -0.14 -> 0.27 (0.96).
LEARNING_PPO = {
    "total_episodes": 128,
    "per_device_train_batch_size": 8,
    "response_length": 8,
    "num_ppo_epochs": 2,
    "learning_rate": 1e-3,
}


def test_ppo_raises_held_out_reward_over_the_sft_policy_with_bounded_kl(decoder, reward, tmp_path):
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": prompt(i)} for i in range(60)])
    stage = {
        **ppo_stage(decoder, reward, prompts, train=LEARNING_PPO),
        "data": {"path": str(prompts), "validation_size": 12},
    }
    hfpipeline.run({"name": "learn", "seed": 0, "output_dir": str(tmp_path / "run"), "stages": [stage]})
    metrics = json.loads((tmp_path / "run/ppo/metrics.json").read_text())
    assert metrics["mean_reward"] > metrics["mean_reward_sft"] + 0.1, metrics
    assert 0 < metrics["kl"] < 3.0, metrics


def test_ppo_logs_reward_and_kl_and_compares_policies(ppo_run):
    metrics = json.loads((ppo_run / "ppo/metrics.json").read_text())
    assert metrics["updates"] == 4 and metrics["episodes"] == 16 and metrics["train_prompts"] == 24
    assert all(
        isinstance(h["objective/scores"], float) and isinstance(h["objective/kl"], float) for h in metrics["train_log"]
    )
    assert metrics["train_kl_last"] == metrics["train_log"][-1]["objective/kl"]
    assert metrics["eval_prompts"] == 6 and isinstance(metrics["kl"], float)
    assert isinstance(metrics["mean_reward"], float) and isinstance(metrics["mean_reward_sft"], float)
    samples = [json.loads(line) for line in (ppo_run / "ppo/samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6 and {"prompt", "sft", "tuned", "reward_sft", "reward", "kl"} <= set(samples[0])
    assert metrics["mean_reward"] == pytest.approx(sum(s["reward"] for s in samples) / 6, abs=1e-3)
    summary = json.loads((ppo_run / "run.json").read_text())["summary"][0]
    assert summary["metric"] == "mean_reward" and summary["value"] == metrics["mean_reward"]
    assert json.loads((ppo_run / "ppo/trainer_state.json").read_text())["log_history"]
    assert not (ppo_run / "ppo/checkpoints").exists()


def test_ppo_policy_reloads_and_generates(ppo_run, decoder):
    from transformers import AutoModelForCausalLM

    policy = models.load_model(AutoModelForCausalLM, str(ppo_run / "ppo")).eval()
    before = models.load_model(AutoModelForCausalLM, str(decoder / "sft"))
    assert any(not torch.equal(a, b) for a, b in zip(policy.parameters(), before.parameters()))  # PPO moved it
    tok = models.load_tokenizer(str(ppo_run / "ppo"))
    ids = tok(prompt(0), return_tensors="pt")
    out = policy.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]
    info = card.read(ppo_run / "ppo")
    assert card.is_causal_lm(info)
    assert info["tokenizer_fingerprint"] == card.read(decoder / "sft")["tokenizer_fingerprint"]
    assert tok.padding_side == card.read(decoder / "sft")["padding_side"]


def test_value_model_is_saved_beside_the_policy(ppo_run, reward):
    from transformers import AutoModelForSequenceClassification

    value_dir = ppo_run / "ppo/value_model"
    assert card.is_scorer(card.read(value_dir))
    value = models.load_model(AutoModelForSequenceClassification, str(value_dir))
    start = models.load_model(AutoModelForSequenceClassification, str(reward / "rm"))
    assert not torch.equal(value.score.weight, start.score.weight)  # trained from the reward model's weights


def test_eval_prompts_block_or_held_out_split(decoder, reward, tmp_path):
    from hfpipeline.stages import ppo

    prompts = write_jsonl(tmp_path / "p.jsonl", [{"question": f"User: question {i}?\nAssistant:"} for i in range(20)])
    held = write_jsonl(tmp_path / "held.jsonl", [{"prompt": f"User: hello {i}\nAssistant:"} for i in range(5)])
    stage, ctx = stage_and_ctx(
        tmp_path,
        ppo_stage(decoder, reward, prompts, eval_prompts=str(held))
        | {"data": {"path": str(prompts), "prompt_field": "question"}},
    )
    splits = ppo.load_prompts(stage, ctx)
    assert (len(splits["train"]), splits["eval"]["prompt"]) == (20, [f"User: hello {i}\nAssistant:" for i in range(5)])
    stage, ctx = stage_and_ctx(
        tmp_path, ppo_stage(decoder, reward, prompts) | {"data": {"path": str(prompts), "prompt_field": "question"}}
    )
    splits = ppo.load_prompts(stage, ctx)
    assert (len(splits["train"]), len(splits["eval"])) == (18, 2)  # 10% held out with the recipe seed
    assert not set(splits["train"]["prompt"]) & set(splits["eval"]["prompt"])


def test_killed_ppo_resumes_from_its_checkpoint_and_ends_where_an_uninterrupted_run_does(
    decoder, reward, tmp_path, monkeypatch
):
    from transformers import AutoModelForCausalLM
    from trl.experimental.ppo import PPOTrainer

    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": prompt(i)} for i in range(22)])
    save = {"save_strategy": "steps", "save_steps": 2}

    def recipe(out):
        stage = ppo_stage(decoder, reward, prompts)
        stage["train"] = {**stage["train"], **save}
        return {"name": "again", "seed": 0, "output_dir": str(tmp_path / out), "stages": [stage]}

    hfpipeline.run(recipe("whole"))
    original = PPOTrainer._save_checkpoint

    def save_then_die(self, model, trial):
        original(self, model, trial)
        raise KeyboardInterrupt  # killed right after the first checkpoint

    monkeypatch.setattr(PPOTrainer, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        hfpipeline.run(recipe("resumed"))
    stage_dir = tmp_path / "resumed/ppo"
    assert json.loads((tmp_path / "resumed/run.json").read_text())["stages"][0]["status"] == "interrupted"
    assert (stage_dir / "checkpoints/checkpoint-2/value_model/model.safetensors").is_file()
    monkeypatch.undo()
    assert hfpipeline.run(recipe("resumed"))["stages"][0]["status"] == "done"
    metrics = json.loads((stage_dir / "metrics.json").read_text())
    whole = json.loads((tmp_path / "whole/ppo/metrics.json").read_text())
    assert metrics["updates"] == 4 and metrics["resumed_from_step"] == 2
    entry = json.loads((tmp_path / "resumed/run.json").read_text())["stages"][0]
    assert [a["status"] for a in entry["attempts"]] == ["interrupted", "done"]
    assert [h["objective/scores"] for h in metrics["train_log"]] == [h["objective/scores"] for h in whole["train_log"]]
    for a, b in zip(
        AutoModelForCausalLM.from_pretrained(stage_dir).parameters(),
        AutoModelForCausalLM.from_pretrained(tmp_path / "whole/ppo").parameters(),
    ):
        assert torch.equal(a, b)


def test_ppo_with_lora_saves_a_merged_policy(decoder, reward, tmp_path):
    from transformers import AutoModelForCausalLM

    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": prompt(i)} for i in range(22)])
    hfpipeline.run(
        {
            "name": "lora",
            "seed": 0,
            "output_dir": str(tmp_path / "run"),
            "stages": [ppo_stage(decoder, reward, prompts, peft={"r": 4, "lora_alpha": 8})],
        }
    )
    stage_dir = tmp_path / "run/ppo"
    assert not (stage_dir / "adapter_config.json").exists()  # merged: loads as a plain causal LM
    policy = AutoModelForCausalLM.from_pretrained(stage_dir)
    before = AutoModelForCausalLM.from_pretrained(decoder / "sft")
    assert any(not torch.equal(a, b) for a, b in zip(policy.parameters(), before.parameters()))
    assert json.loads((stage_dir / "metrics.json").read_text())["updates"] == 4


def test_prompts_are_rendered_as_the_policy_saw_them(decoder):
    from datasets import Dataset, DatasetDict

    from hfpipeline.stages import ppo

    tok = models.load_tokenizer(str(decoder / "sft"))
    plain = DatasetDict({"train": Dataset.from_list([{"prompt": "How do I cook rice?"}])})
    question = "How do I cook rice?"
    assert ppo.as_policy_saw_them(plain, tok, {"prompt_format": "text"})[0]["train"][0]["prompt"] == question
    messages = DatasetDict({"train": Dataset.from_list([{"prompt": [{"role": "user", "content": question}]}])})
    with pytest.raises(UserError, match="no chat template"):
        ppo.as_policy_saw_them(messages, tok, {"prompt_format": "text"})
    tok.chat_template = "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }}\n{% endfor %}<assistant>"
    for prompts, info in ((plain, {"prompt_format": "chat"}), (messages, {"prompt_format": "text"})):
        rendered, chat = ppo.as_policy_saw_them(prompts, tok, info)
        assert chat and rendered["train"][0]["prompt"] == "<user> How do I cook rice?\n<assistant>"

"""rloo stage: RLOO on tiny models raises the reward of held-out answers over the SFT policy, logs reward and KL,
saves a policy that reloads and generates, resumes from its last checkpoint, learns from a reward model with its own
tokenizer; recipe validation of its refs and rewards; the ppo stage on a TRL without PPOTrainer."""

import json
from pathlib import Path

import pytest
import torch
from builders import TINY_GPT, preferences, prompt, rl_cut, stage_and_ctx
from conftest import write_jsonl

import hfpipeline
from hfpipeline import card, handoff, models
from hfpipeline.cli import main
from hfpipeline.errors import UserError

TINY_RLOO = {
    "max_steps": 40,
    "per_device_train_batch_size": 8,
    "num_generations": 4,
    "max_completion_length": 10,
    "learning_rate": 3e-4,
}


def rl_stage(policy: Path, reward_model, prompts: Path, kind: str = "rloo", **extra) -> dict:
    train = {**TINY_RLOO, **extra.pop("train", {})}
    return {
        "name": kind,
        "kind": kind,
        "policy": str(policy),
        "reward_model": reward_model,
        "data": {"path": str(prompts), "validation_size": 24},
        "train": train,
        **extra,
    }


def prompts_file(root: Path, n: int = 64) -> Path:
    return write_jsonl(root / "prompts.jsonl", [{"prompt": prompt(i), "id": i} for i in range(n)])


def metrics_of(stage_dir: Path) -> dict:
    return json.loads((stage_dir / "metrics.json").read_text())


@pytest.fixture(scope="module")
def rloo_run(decoder, reward, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rloo")
    hfpipeline.run(
        {
            "name": "rloo",
            "seed": 0,
            "output_dir": str(root / "run"),
            "stages": [rl_stage(decoder / "sft", str(reward / "rm"), prompts_file(root))],
        }
    )
    return root / "run"


def test_rloo_raises_held_out_reward_and_logs_reward_and_kl(rloo_run):
    metrics = metrics_of(rloo_run / "rloo")
    assert metrics["updates"] == 40 and metrics["train_prompts"] == 40 and metrics["eval_prompts"] == 24
    assert all(isinstance(h["reward"], float) and isinstance(h["kl"], float) for h in metrics["train_log"])
    print("rloo:", metrics["mean_reward_sft"], "->", metrics["mean_reward"], "kl", metrics["kl"])
    assert metrics["mean_reward"] > metrics["mean_reward_sft"]  # the same prompts and sampling seed
    assert 0 < metrics["kl"] < 5
    samples = [json.loads(line) for line in (rloo_run / "rloo/samples.jsonl").read_text().splitlines()]
    assert len(samples) == 24 and {"prompt", "sft", "tuned", "reward_sft", "reward", "kl"} <= set(samples[0])
    assert metrics["mean_reward"] == pytest.approx(sum(s["reward"] for s in samples) / 24, abs=1e-3)
    summary = json.loads((rloo_run / "run.json").read_text())["summary"][0]
    assert summary["metric"] == "mean_reward" and summary["value"] == metrics["mean_reward"]
    assert not (rloo_run / "rloo/checkpoints").exists()


def test_rloo_policy_reloads_and_generates(rloo_run, decoder):
    from transformers import AutoModelForCausalLM

    policy = models.load_model(AutoModelForCausalLM, str(rloo_run / "rloo")).eval()
    before = models.load_model(AutoModelForCausalLM, str(decoder / "sft"))
    assert any(not torch.equal(a, b) for a, b in zip(policy.parameters(), before.parameters()))
    tok = models.load_tokenizer(str(rloo_run / "rloo"))
    ids = tok(prompt(0), return_tensors="pt")
    out = policy.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]
    info = card.read(rloo_run / "rloo")
    assert card.is_causal_lm(info) and info["trained_by"] == "rloo"
    assert info["tokenizer_fingerprint"] == card.read(decoder / "sft")["tokenizer_fingerprint"]


def test_interrupted_rloo_resumes_from_its_last_checkpoint(decoder, reward, tmp_path, monkeypatch):
    from transformers import Trainer

    recipe = {
        "name": "again",
        "seed": 0,
        "output_dir": str(tmp_path / "run"),
        "stages": [
            rl_stage(
                decoder / "sft",
                str(reward / "rm"),
                prompts_file(tmp_path, 40),
                train={"max_steps": 6, "save_steps": 3, "logging_steps": 1},
            )
        ],
    }
    save = Trainer._save_checkpoint

    def save_then_die(self, *args, **kwargs):
        save(self, *args, **kwargs)
        raise KeyboardInterrupt  # killed right after the step-3 checkpoint

    monkeypatch.setattr(Trainer, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        hfpipeline.run(recipe)
    stage_dir = tmp_path / "run/rloo"
    assert (stage_dir / "checkpoints/checkpoint-3").is_dir()
    monkeypatch.undo()
    from trl import RLOOTrainer

    trained = []
    step = RLOOTrainer.training_step
    monkeypatch.setattr(RLOOTrainer, "training_step", lambda self, *a, **k: trained.append(1) or step(self, *a, **k))
    assert hfpipeline.run(recipe)["stages"][0]["status"] == "done"
    assert len(trained) == 3  # steps 1-3 came from the checkpoint, not trained again
    assert [h["step"] for h in metrics_of(stage_dir)["train_log"]] == [1, 2, 3, 4, 5, 6]  # the log carries over


def test_reward_model_with_its_own_tokenizer(decoder, tmp_path, capsys):
    """A reward stage with its own tokenizer stage and vocabulary: rloo decodes and re-tokenizes for it and raises
    its reward; ppo refuses the same pair."""
    corpus = write_jsonl(
        tmp_path / "corpus.jsonl",
        [{"text": r["prompt"] + r[k]} for r in preferences(96) for k in ("chosen", "rejected")],
    )
    prompts = prompts_file(tmp_path, 96)
    rl = rl_stage(decoder / "sft", "rm_b", prompts)
    rl["data"]["validation_size"] = 48
    manifest = hfpipeline.run(
        {
            "name": "other",
            "seed": 0,
            "output_dir": str(tmp_path / "run"),
            "stages": [
                {
                    "name": "tok_b",
                    "kind": "tokenizer",
                    "vocab_size": 300,
                    "lowercase": True,  # another BPE vocabulary
                    "data": str(corpus),
                },
                {
                    "name": "rm_b",
                    "kind": "reward",
                    "model": TINY_GPT,
                    "tokenizer": "tok_b",
                    "data": {
                        "path": str(write_jsonl(tmp_path / "prefs.jsonl", preferences(120))),
                        "validation_size": 24,
                    },
                    "train": {"max_steps": 60, "learning_rate": 1e-3, "per_device_train_batch_size": 8},
                },
                rl,
            ],
        }
    )
    assert [s["status"] for s in manifest["stages"]] == ["done"] * 3
    run_dir = tmp_path / "run"
    assert card.read(run_dir / "rm_b")["tokenizer_fingerprint"] != card.read(decoder / "sft")["tokenizer_fingerprint"]
    metrics = metrics_of(run_dir / "rloo")
    assert metrics_of(run_dir / "rm_b")["accuracy"] > 0.8
    print("other tokenizer:", metrics["mean_reward_sft"], "->", metrics["mean_reward"], "kl", metrics["kl"])
    assert metrics["mean_reward"] > metrics["mean_reward_sft"]
    stage, ctx = stage_and_ctx(tmp_path, {**rl, "reward_model": str(run_dir / "rm_b")})  # ppo refuses the pair
    with pytest.raises(UserError, match="reward model and policy tokenizers differ"):
        handoff.check_ppo(stage, ctx)


# --- validation (nothing trains) ----------------------------------------------------------------------------------


def chain(tmp_path, stage: dict) -> Path:
    recipe = {
        "name": "c",
        "output_dir": str(tmp_path / "run"),
        "stages": [
            {"name": "tok", "kind": "tokenizer", "data": "demo:corpus"},
            {"name": "sft", "kind": "sft", "model": TINY_GPT, "tokenizer": "tok", "data": "demo:instructions"},
            {"name": "rm", "kind": "reward", "model": "sft", "data": "demo:preferences"},
            {"name": "rm2", "kind": "reward", "model": "sft", "data": "demo:preferences"},
            stage,
        ],
    }
    return tmp_path / "r.yaml", recipe


@pytest.mark.parametrize("kind", ["rloo", "grpo"])
def test_several_reward_models_and_functions_validate(tmp_path, capsys, kind):
    from conftest import write_recipe

    path, recipe = chain(
        tmp_path,
        {
            "name": "rl",
            "kind": kind,
            "policy": "sft",
            "reward_model": ["rm", "rm2"],
            "reward_funcs": ["my_rewards:length"],
            "data": "demo:prompts",
            "train": {"reward_weights": [1.0, 0.5, 0.1], "num_generations": 4},
        },
    )
    assert main(["validate", str(write_recipe(path, recipe))]) == 0, capsys.readouterr().err
    stage = hfpipeline.load_recipe(path).stage("rl")
    assert stage.refs["reward_model"] == [{"stage": "rm"}, {"stage": "rm2"}]
    assert [key for key, _ in stage.each_ref()] == ["policy", "reward_model", "reward_model"]


@pytest.mark.parametrize(
    "stage, message",
    [
        (
            {"policy": "sft", "data": "demo:prompts"},
            "stages[4].reward_model: missing. A rloo stage needs reward_model:",
        ),
        (
            {"policy": "sft", "reward_model": ["rm", "sft"], "data": "demo:prompts"},
            "stages[4].reward_model: stage 'sft' is a sft stage; a rloo stage's reward_model: must be a reward stage",
        ),
        (
            {"policy": "sft", "reward_model": "rm"},
            "stages[4].data: missing. A rloo stage needs data: with a prompt column",
        ),
        (
            {"policy": "sft", "reward_funcs": ["rewards.py"], "data": "demo:prompts"},
            "stages[4].reward_funcs[0]: 'rewards.py' is not module:function",
        ),
        (
            {"policy": "sft", "reward_model": "rm", "data": "demo:prompts", "train": {"num_generation": 4}},
            "stages[4].train.num_generation: not a field of RLOOConfig (did you mean 'num_generations'?)",
        ),
    ],
)
def test_rloo_refs_and_rewards_are_checked_at_validation(tmp_path, capsys, stage, message):
    from conftest import write_recipe

    path, recipe = chain(tmp_path, {"name": "rl", "kind": "rloo", **stage})
    assert main(["validate", str(write_recipe(path, recipe))]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_reward_function_that_does_not_import_stops_the_stage(decoder, reward, tmp_cwd):
    (tmp_cwd / "my_rewards_bad.py").write_text("def length(completions, **kw):\n    return [0.0] * len(completions)\n")
    stage, ctx = stage_and_ctx(
        tmp_cwd,
        {
            **rl_stage(decoder / "sft", str(reward / "rm"), prompts_file(tmp_cwd)),
            "reward_funcs": ["my_rewards_bad:lenght"],
        },
    )
    from hfpipeline.stages import rl_shared

    with pytest.raises(UserError, match="reward_funcs: my_rewards_bad:lenght: cannot import it"):
        rl_shared.reward_functions(stage)


def test_ppo_stage_on_a_trl_without_ppo_fails_validation_in_one_line(tmp_path, capsys, monkeypatch):
    import importlib.metadata

    from conftest import write_recipe

    from hfpipeline import schema

    schema._schema()  # the field table of the real versions, loaded before the version is faked
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "1.16.0" if name == "trl" else real(name))
    path, recipe = chain(
        tmp_path,
        {
            "name": "ppo",
            "kind": "ppo",
            "policy": "sft",
            "reward_model": "rm",
            "data": "demo:prompts",
            "train": {"kl_coef": 0.1},
        },
    )
    assert main(["validate", str(write_recipe(path, recipe))]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and "stages[4].kind: the ppo stage needs TRL < 1.13 (TRL 1.16.0 is installed" in errors[0]
    assert "pip install 'hfpipeline[ppo]'" in errors[0] and "kind: rloo" in errors[0]
    recipe["stages"][4]["kind"] = "rloo"
    recipe["stages"][4]["train"] = {"beta": 0.1}
    assert main(["validate", str(write_recipe(path, recipe))]) == 0  # every other stage kind works


@pytest.mark.slow
def test_shipped_rloo_recipe_runs_cut_down(tmp_path):
    cut = {
        **rl_cut("rloo", max_steps=4, max_completion_length=8),
        "output_dir": str(tmp_path / "run"),
    }
    manifest = hfpipeline.run(str(Path(__file__).resolve().parent.parent / "recipes/rloo.yaml"), cut)
    assert [s["kind"] for s in manifest["stages"]] == ["tokenizer", "pretrain", "sft", "reward", "rloo"]
    assert [s["status"] for s in manifest["stages"]] == ["done"] * 5
    metrics = metrics_of(tmp_path / "run/rloo")
    assert metrics["updates"] == 4 and metrics["eval_prompts"] == 8
    assert {"mean_reward", "mean_reward_sft", "kl"} <= set(metrics)

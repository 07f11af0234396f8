"""grpo stage: GRPO on tiny models with several reward models and a Python reward function (imported from the
working directory, seeing the data's other columns), weighted; with reward functions alone; with LoRA adapters."""

import json
import sys
from pathlib import Path

import pytest
from builders import prompt
from conftest import write_jsonl

import hfpipeline
from hfpipeline import card

TINY_GRPO = {
    "max_steps": 4,
    "per_device_train_batch_size": 8,
    "num_generations": 4,
    "max_completion_length": 8,
    "learning_rate": 1e-4,
}
REWARDS = '''
CALLS = []


def polite(completions, id, **kwargs):
    """1 for an answer that opens politely; records the extra column it was given."""
    CALLS.append(list(id))
    return [1.0 if c.strip().startswith(("Sure", "Of course", "Happy")) else 0.0 for c in completions]
'''


@pytest.fixture
def rewards_module(tmp_cwd, monkeypatch):
    """grpo_rewards.py in the working directory, where the stage imports reward_funcs from."""
    (tmp_cwd / "grpo_rewards.py").write_text(REWARDS)
    monkeypatch.delitem(sys.modules, "grpo_rewards", raising=False)
    yield tmp_cwd
    sys.modules.pop("grpo_rewards", None)


def grpo_stage(decoder: Path, root: Path, **extra) -> dict:
    prompts = write_jsonl(root / "prompts.jsonl", [{"prompt": prompt(i), "id": i} for i in range(30)])
    return {
        "name": "grpo",
        "kind": "grpo",
        "policy": str(decoder / "sft"),
        "reward_funcs": ["grpo_rewards:polite"],
        "data": {"path": str(prompts), "validation_size": 6},
        "train": dict(TINY_GRPO),
        **extra,
    }


def test_grpo_with_two_reward_models_and_a_function_weighted(decoder, reward, rewards_module):
    stage = grpo_stage(decoder, rewards_module, reward_model=[str(reward / "rm"), str(reward / "rm")])
    stage["train"]["reward_weights"] = [1.0, 0.5, 2.0]
    hfpipeline.run({"name": "g", "seed": 0, "output_dir": "run", "stages": [stage]})
    metrics = json.loads((rewards_module / "run/grpo/metrics.json").read_text())
    assert metrics["updates"] == 4 and metrics["train_prompts"] == 24
    for row in metrics["train_log"]:  # TRL's weighted sum of the three rewards, each logged by name
        rm = row["rewards/rm/mean"]
        assert row["reward"] == pytest.approx(1.5 * rm + 2.0 * row["rewards/polite/mean"], abs=1e-4)
    assert isinstance(metrics["mean_reward"], float) and isinstance(metrics["kl"], float)  # scored by the first model
    import grpo_rewards

    assert grpo_rewards.CALLS and all(0 <= i < 30 for ids in grpo_rewards.CALLS for i in ids)  # saw the id column


def test_grpo_with_reward_functions_alone_and_lora(decoder, rewards_module):
    stage = grpo_stage(decoder, rewards_module, peft={"r": 4, "lora_alpha": 8})
    hfpipeline.run({"name": "g", "seed": 0, "output_dir": "run", "stages": [stage]})
    stage_dir = rewards_module / "run/grpo"
    metrics = json.loads((stage_dir / "metrics.json").read_text())
    assert metrics["updates"] == 4 and "mean_reward" not in metrics and isinstance(metrics["kl"], float)
    assert (stage_dir / "adapter_config.json").is_file()  # LoRA adapters on the sft policy, like an sft stage
    base = json.loads((stage_dir / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert Path(base) == (decoder / "sft").resolve()
    assert card.read(stage_dir)["trained_by"] == "grpo"

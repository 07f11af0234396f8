"""`grpo` stage: RL with TRL's GRPOTrainer. The policy (an sft stage) answers each prompt num_generations times; the
reward model(s) and reward functions score the answers; each answer's advantage is its reward against the group of
answers to the same prompt (minus the group mean, scaled by its spread), with a KL penalty to the frozen policy
(beta; TRL's default 0 has none, ours is 0.05). No value model; checkpoints resume."""

from hfpipeline.stages import rl_shared

DEFAULTS = {  # sized for tiny models on CPU; raise for real runs
    "learning_rate": 1e-5,
    "per_device_train_batch_size": 16,
    "num_generations": 4,
    "max_completion_length": 32,
    "temperature": 0.7,
    "beta": 0.05,
    "num_train_epochs": 1,
    "logging_steps": 1,
    "save_strategy": "steps",
    "save_steps": 25,
}


def run(stage, ctx) -> dict:
    return rl_shared.run(stage, ctx, "GRPOConfig", "GRPOTrainer", DEFAULTS)

"""`rloo` stage: RL with TRL's RLOOTrainer. The policy (an sft stage) answers each prompt num_generations times; the
reward model(s) and reward functions score the answers; each answer's advantage is its reward minus the mean reward
of the other answers to the same prompt (REINFORCE leave-one-out), with a KL penalty to the frozen policy. No value
model; checkpoints resume."""

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
    return rl_shared.run(stage, ctx, "RLOOConfig", "RLOOTrainer", DEFAULTS)

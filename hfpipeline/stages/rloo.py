"""`rloo` stage: RL with TRL's RLOOTrainer. The policy (an sft stage) answers each prompt num_generations times; the
reward model(s) and reward functions score the answers; each answer's advantage is its reward minus the mean reward
of the other answers to the same prompt (REINFORCE leave-one-out), with a KL penalty to the frozen policy. No value
model; checkpoints resume."""

from hfpipeline.stages import rl_shared


def run(stage, ctx) -> dict:
    return rl_shared.run(stage, ctx, "RLOOConfig", "RLOOTrainer", rl_shared.DEFAULTS)

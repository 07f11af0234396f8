"""`grpo` stage: RL with TRL's GRPOTrainer. The policy (an sft stage) answers each prompt num_generations times; the
reward model(s) and reward functions score the answers; each answer's advantage is its reward against the group of
answers to the same prompt (minus the group mean, scaled by its spread), with a KL penalty to the frozen policy
(beta; TRL's default 0 has none, ours is 0.05). No value model; checkpoints resume."""

from hfpipeline.stages import rl_shared


def run(stage, ctx) -> dict:
    return rl_shared.run(stage, ctx, "GRPOConfig", "GRPOTrainer", rl_shared.DEFAULTS)

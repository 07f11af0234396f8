"""What the rloo and grpo stages share (they differ only in TRL's trainer and their defaults): prompts, the policy
and its LoRA adapters, reward models (each scoring decoded text in its own tokenizer) and reward functions, training
that resumes, saving, and the held-out comparison of SFT and tuned policy."""

import importlib
import os
import sys
from pathlib import Path

from hfpipeline import card, handoff, models, policy_eval, training
from hfpipeline.errors import UserError
from hfpipeline.stages import shared

# rloo and grpo alike, sized for tiny models on CPU; raise for real runs. beta: the KL penalty (GRPO's own default
# 0 has none).
DEFAULTS = {
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
LOGGED = ("loss", "reward", "reward_std", "kl", "entropy", "completions/mean_length", "completions/clipped_ratio")


def run(stage, ctx, config_name: str, trainer_name: str, defaults: dict) -> dict:
    """Train the policy with TRL's `trainer_name` (RLOOTrainer, GRPOTrainer) against the stage's rewards; save it;
    compare it with the policy it started from on held-out prompts."""
    import trl

    # hand-off: policy and reward models are what they should be (checked before any weights load)
    policy_info, _ = handoff.check_rl(stage, ctx)
    tokenizer = models.stage_tokenizer(stage, ctx, "policy")
    args = training.build_args(getattr(trl, config_name), stage, ctx, **defaults)
    _checkpoint_on_generation_boundaries(stage, ctx, args)
    funcs = reward_functions(stage)
    reward_refs = [ref for key, ref in stage.each_ref() if key == "reward_model"]
    _check_weights(stage, args, len(reward_refs) + len(funcs))
    # data: TRL renders conversational prompts itself; plain prompts of a chat-tuned policy become user turns
    prompts = shared.load_prompts(stage, ctx, keep_columns=True)
    rendered, chat = shared.as_policy_saw_them(prompts, tokenizer, policy_info)  # text, as the policy reads it
    prompts, rendered, figures = shared.fit_prompts(  # TRL truncates neither: over-long prompts fail in generate
        stage,
        prompts,
        rendered,
        tokenizer,
        chat,
        policy_info.get("context_window"),
        args.max_completion_length,
        "max_completion_length",
    )
    train = as_trl_prompts(prompts["train"], policy_info)
    rewards = [
        reward_scorer(ctx.ref(ref), *load_reward_model(ctx.ref(ref)), tokenizer.eos_token_id) for ref in reward_refs
    ]
    # models
    policy = models.build_model(_causal_lm(), stage.refs["policy"], ctx, tokenizer)
    policy.config.pad_token_id = policy.generation_config.pad_token_id = tokenizer.pad_token_id
    policy = shared.add_lora(policy, stage, ctx)  # the reference is then the policy with adapters off
    trainer = getattr(trl, trainer_name)(
        model=policy, reward_funcs=rewards + funcs, args=args, train_dataset=train, processing_class=tokenizer
    )
    metrics = training.train(trainer, ctx)
    training.finish(trainer, tokenizer, ctx, trained_by=stage.kind)
    # evaluate: the policy before and after on held-out prompts, scored by the (first) reward model
    compared = policy_eval.compare_policies(
        ctx.ref(stage.refs["policy"]),
        str(ctx.stage_dir),
        ctx.ref(reward_refs[0]) if reward_refs else None,
        list(rendered["eval"]["prompt"]),
        ctx,
        max_new_tokens=args.max_completion_length,
        temperature=args.temperature,
        add_special_tokens=not chat,
    )
    return {**metrics, **figures, **compared, **trl_metrics(trainer), "train_prompts": len(train)}


def reward_functions(stage) -> list:
    """The stage's reward_funcs: "module:function" imported from the working directory (TRL's convention: this
    runs the recipe author's code)."""
    funcs = []
    for spec in stage.options.get("reward_funcs") or []:
        module, name = spec.split(":")
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            func = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as e:
            raise UserError(
                f"stage {stage.name}: reward_funcs: {spec}: cannot import it ({e}). The module must be "
                f"importable from the working directory {os.getcwd()}"
            ) from None
        if not callable(func):
            raise UserError(f"stage {stage.name}: reward_funcs: {spec} is not a function")
        funcs.append(func)
    return funcs


def _check_weights(stage, args, n: int) -> None:
    weights = getattr(args, "reward_weights", None)
    if weights is not None and len(weights) != n:
        raise UserError(
            f"stage {stage.name}: train.reward_weights has {len(weights)} weights for {n} rewards (the "
            "reward models in reward_model: order, then reward_funcs:). Give one weight each"
        )


def _checkpoint_on_generation_boundaries(stage, ctx, args) -> None:
    """Checkpoints only where a batch of generations is used up (steps_per_generation x num_iterations steps): a
    resume from inside one does not continue the same run. Our default save_steps is rounded up; a recipe's is
    refused."""
    block = training.save_block(args)
    if args.save_strategy != "steps" or args.save_steps < 1 or args.save_steps % block == 0:
        return
    if "save_steps" in ctx.recipe.train_for(stage):
        raise UserError(
            f"stage {stage.name}: train.save_steps {args.save_steps} is not a multiple of "
            f"steps_per_generation x num_iterations = {block}: a checkpoint inside a batch of generations "
            "does not resume the same run. Use a multiple"
        )
    args.save_steps = -(-int(args.save_steps) // block) * block


def as_trl_prompts(dataset, policy_info: dict):
    """Plain prompts of a chat-tuned policy (prompt_format: chat) as user turns, so TRL renders them with the chat
    template as SFT did; conversational prompts and other plain prompts as they are."""
    if policy_info.get("prompt_format") != "chat" or isinstance(dataset[0]["prompt"], list):
        return dataset
    return dataset.map(lambda row: {"prompt": [{"role": "user", "content": row["prompt"]}]})


def load_reward_model(path: str) -> tuple:
    """A reward model and its own tokenizer (with a pad token the model knows)."""
    from transformers import AutoModelForSequenceClassification

    tokenizer = models.load_tokenizer(path)
    model = models.load_model(AutoModelForSequenceClassification, path, num_labels=1).eval()
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def reward_scorer(path: str, model, tokenizer, policy_eos: int | None):
    """The reward model as a TRL reward function: it scores prompt + answer in its own tokens, with its eos after
    an answer the policy finished (the reward stage trained on answers + eos: TRL's RewardTrainer appends it; TRL's
    own path for a reward model drops it), cut from the left to its context window. Conversational rows are
    rendered by its own chat template. policy_eval scores the held-out answers the same way."""
    import torch
    from accelerate import PartialState

    model.to(PartialState().device)
    tokenizer.truncation_side = "left"  # the attribute: a truncation_side= call argument is ignored
    window = card.context_window(model.config)
    eos = tokenizer.eos_token or ""

    def text(prompt, completion, ids) -> str:
        if isinstance(prompt, list):  # messages: the template closes the assistant turn itself
            return tokenizer.apply_chat_template(prompt + completion, tokenize=False)
        return prompt + completion + (eos if ids and ids[-1] == policy_eos else "")

    def score(prompts, completions, completion_ids, **kwargs) -> list[float]:
        texts = [text(p, c, ids) for p, c, ids in zip(prompts, completions, completion_ids)]
        batch = tokenizer(
            texts,
            return_tensors="pt",
            padding=True,
            padding_side="right",
            truncation=bool(window),
            max_length=window,
            add_special_tokens=False,
        )
        with torch.inference_mode():
            return model(**batch.to(model.device)).logits[:, 0].float().tolist()

    score.__name__ = Path(path).name  # TRL logs rewards/<name>/mean
    return score


def trl_metrics(trainer) -> dict:
    """TRL's per-step log (weighted reward of the sampled answers, each reward's mean, KL, ...), plus first/last
    reward and last KL."""
    history = [
        {k: v for k, v in h.items() if k in ("step", *LOGGED) or (k.startswith("rewards/") and k.endswith("/mean"))}
        for h in trainer.state.log_history
        if "reward" in h
    ]  # rewards/NAME/mean: each reward's own
    if not history:
        return {"updates": 0}
    return {
        "updates": len(history),
        "train_reward_first": history[0]["reward"],
        "train_reward_last": history[-1]["reward"],
        "train_kl_last": history[-1].get("kl"),
        "train_log": history,
    }


def _causal_lm():
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM

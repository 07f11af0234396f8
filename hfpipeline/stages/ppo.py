"""`ppo` stage: RLHF with TRL's PPOTrainer (trl.experimental.ppo). The policy (an sft stage) answers prompts, the
reward model scores the answers, PPO updates policy and value model with a per-token KL penalty to the frozen policy.
TRL's PPO cannot resume mid-stage (kinds: resumable=False): a rerun starts over from the policy. The value model is
saved in value_model/."""

from hfpipeline import dist, handoff, models, policy_eval, training
from hfpipeline.errors import UserError
from hfpipeline.stages.shared import as_policy_saw_them, load_prompts

DEFAULTS = {             # sized for tiny models on CPU; raise for real runs
    "learning_rate": 1e-5, "per_device_train_batch_size": 8, "gradient_accumulation_steps": 1,
    "num_mini_batches": 1, "num_ppo_epochs": 4, "response_length": 32, "stop_token": "eos", "kl_coef": 0.05,
    "num_sample_generations": 0, "save_strategy": "no", "logging_steps": 1, "num_train_epochs": 1,
}
LOGGED = ("objective/scores", "objective/kl", "objective/rlhf_reward", "objective/non_score_reward",
          "objective/entropy", "policy/approxkl_avg", "loss/policy_avg", "loss/value_avg", "val/num_eos_tokens")


def run(stage, ctx) -> dict:
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    # hand-off: policy, reward and value model fit together (checked before any weights load)
    infos = handoff.check_ppo(stage, ctx)
    # data
    tokenizer = models.stage_tokenizer(stage, ctx, "policy")
    args = training.build_args(PPOConfig, stage, ctx, **DEFAULTS)
    prompts, encoded, chat = encode_prompts(stage, ctx, tokenizer, infos, args)
    # models
    policy, reference, reward, value = load_models(stage, ctx, tokenizer)
    # trainer
    trainer = PPOTrainer(args=args, processing_class=tokenizer, model=policy, ref_model=reference, reward_model=reward,
                         value_model=value, train_dataset=encoded["train"], eval_dataset=encoded["eval"],
                         peft_config=_lora(stage.peft))
    metrics = training.train(trainer, ctx)
    # save: the policy (LoRA merged) in the stage folder, the value model beside it
    tokenizer.padding_side = infos["policy"].get("padding_side") or "right"
    save(trainer, tokenizer, ctx)
    # evaluate: the policy before and after PPO on held-out prompts
    compared = policy_eval.compare_policies(
        ctx.ref(stage.refs["policy"]), str(ctx.stage_dir), ctx.ref(stage.refs["reward_model"]),
        list(prompts["eval"]["prompt"]), ctx, max_new_tokens=args.response_length, temperature=args.temperature,
        add_special_tokens=not chat)
    return {**metrics, **compared, **trl_metrics(trainer), "train_prompts": len(encoded["train"])}


def encode_prompts(stage, ctx, tokenizer, infos: dict, args):
    """Train/eval prompts as text, left-padded token ids, and whether a chat template rendered them; checks that
    prompt + response fit every model's context window and that there is at least one batch of prompts."""
    prompts, chat = as_policy_saw_them(load_prompts(stage, ctx), tokenizer, infos["policy"])
    tokenizer.padding_side = "left"   # prompts are left-padded so responses follow them directly
    encoded = prompts.map(lambda b: tokenizer(b["prompt"], add_special_tokens=not chat), batched=True,
                          remove_columns=["prompt"])
    window = min((i["context_window"] for i in infos.values() if i.get("context_window")), default=None)
    for name, ds in encoded.items():
        handoff.check_prompt_lengths(stage, [len(ids) for ids in ds["input_ids"]], window, args.response_length,
                                     f"{name} prompts")
    batch = args.per_device_train_batch_size * args.gradient_accumulation_steps
    if len(encoded["train"]) < batch:
        raise UserError(f"stage {stage.name}: {len(encoded['train'])} training prompts, fewer than one batch of "
                        f"{batch}. Add prompts or lower train.per_device_train_batch_size")
    return prompts, encoded, chat


def load_models(stage, ctx, tokenizer) -> tuple:
    """Policy and its frozen reference (none with LoRA: adapters off), reward model, value model (from the reward
    model unless value_model: names another)."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, set_seed

    set_seed(ctx.recipe.seed)
    value_ref = stage.refs.get("value_model") or stage.refs["reward_model"]
    policy = models.build_model(AutoModelForCausalLM, stage.refs["policy"], ctx, tokenizer)
    reference = None if stage.peft else models.build_model(AutoModelForCausalLM, stage.refs["policy"], ctx, tokenizer)
    scorer = AutoModelForSequenceClassification
    reward = models.build_model(scorer, stage.refs["reward_model"], ctx, tokenizer, num_labels=1)
    value = models.build_model(scorer, value_ref, ctx, tokenizer, num_labels=1)
    for model in (policy, reference, reward, value):
        if model is not None:
            model.config.pad_token_id = tokenizer.pad_token_id
    policy.generation_config.pad_token_id = tokenizer.pad_token_id
    return policy, reference, reward, value


def _lora(peft: dict | None):
    """LoRA on the policy (the reference is then the policy with adapters switched off)."""
    if not peft:
        return None
    from peft import LoraConfig

    return LoraConfig(**{"task_type": "CAUSAL_LM", "target_modules": "all-linear", **peft})


def save(trainer, tokenizer, ctx) -> None:
    """The tuned policy (LoRA merged) through the shared save path; the value model in value_model/."""
    wrapper = trainer.accelerator.unwrap_model(trainer.model)
    if trainer.is_peft_model:
        wrapper.policy = wrapper.policy.merge_and_unload()
    training.finish(trainer, tokenizer, ctx, model=wrapper.policy, trained_by="ppo")
    if dist.is_main():
        models.save(wrapper.value_model, tokenizer, ctx.stage_dir / "value_model", trained_by="ppo")


def trl_metrics(trainer) -> dict:
    """TRL's per-update metrics (reward score, KL, ...) from the log history, plus first/last reward and last KL."""
    history = [{k: h[k] for k in ("episode", *LOGGED) if k in h} for h in trainer.state.log_history
               if "objective/scores" in h]
    if not history:
        return {"updates": 0}
    return {"updates": len(history), "episodes": history[-1].get("episode"),
            "train_scores_first": history[0]["objective/scores"], "train_scores_last": history[-1]["objective/scores"],
            "train_kl_last": history[-1]["objective/kl"], "train_log": history}

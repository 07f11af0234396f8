"""`ppo` stage: RLHF with TRL's PPOTrainer (trl.experimental.ppo). The policy (an sft stage) answers prompts, the
reward model scores the answers, PPO updates policy and value model with a per-token KL penalty to the frozen policy.
The value model is saved in value_model/. A rerun resumes from the newest complete checkpoint (ResumablePPOTrainer:
TRL's train() takes none)."""

import functools
import gc
from pathlib import Path

from hfpipeline import dist, handoff, models, policy_eval, training
from hfpipeline.errors import UserError
from hfpipeline.stages import shared
from hfpipeline.stages.shared import as_policy_saw_them, load_prompts

DEFAULTS = {  # sized for tiny models on CPU; raise for real runs
    "learning_rate": 1e-5,
    "per_device_train_batch_size": 8,
    "gradient_accumulation_steps": 1,
    "num_mini_batches": 1,
    "num_ppo_epochs": 4,
    "response_length": 32,
    "stop_token": "eos",
    "kl_coef": 0.05,
    "num_sample_generations": 0,
    "logging_steps": 1,
    "num_train_epochs": 1,
}
LOGGED = (
    "objective/scores",
    "objective/kl",
    "objective/rlhf_reward",
    "objective/non_score_reward",
    "objective/entropy",
    "policy/approxkl_avg",
    "loss/policy_avg",
    "loss/value_avg",
    "val/num_eos_tokens",
)


def run(stage, ctx) -> dict:
    from trl.experimental.ppo import PPOConfig

    # hand-off: policy, reward and value model fit together (checked before any weights load)
    infos = handoff.check_ppo(stage, ctx)
    # data
    tokenizer = models.stage_tokenizer(stage, ctx, "policy")
    args = training.build_args(PPOConfig, stage, ctx, **DEFAULTS)
    prompts, encoded, chat, figures = encode_prompts(stage, ctx, tokenizer, infos, args)
    # models
    policy, reference, reward, value = load_models(stage, ctx, tokenizer)
    # trainer
    trainer = resumable_trainer()(
        args=args,
        processing_class=tokenizer,
        model=policy,
        ref_model=reference,
        reward_model=reward,
        value_model=value,
        train_dataset=encoded["train"],
        eval_dataset=encoded["eval"],
        peft_config=_lora(stage.peft),
    )
    # TRL's PPO loop calls gc.collect() twice per update; a full collection walks every object the libraries
    # loaded (0.28 s each on 2 CPU cores: a quarter of a tiny model's update, docs/performance.md). Frozen objects
    # are skipped; what training creates is still collected.
    gc.freeze()
    try:
        metrics = training.train(trainer, ctx)
    finally:
        gc.unfreeze()
    # save: the policy (LoRA merged) in the stage folder, the value model beside it
    tokenizer.padding_side = infos["policy"].get("padding_side") or "right"
    save(trainer, tokenizer, ctx)
    # evaluate: the policy before and after PPO on held-out prompts
    compared = policy_eval.compare_policies(
        ctx.ref(stage.refs["policy"]),
        str(ctx.stage_dir),
        ctx.ref(stage.refs["reward_model"]),
        list(prompts["eval"]["prompt"]),
        ctx,
        max_new_tokens=args.response_length,
        temperature=args.temperature,
        add_special_tokens=not chat,
    )
    return {**metrics, **figures, **compared, **trl_metrics(trainer), "train_prompts": len(encoded["train"])}


def resumable_trainer():
    """TRL's PPOTrainer, made to resume. Library gap: TRL 1.12's PPOTrainer.train() takes no checkpoint, resets its
    counters and runs every update from the first (TRL #2657); its checkpoints hold the policy only, and its data
    order comes from the global RNG at each pass. This subclass (1) draws batches from a seeded stream of
    permutations, so an update's batch depends only on the update number; (2) saves the value model inside each
    checkpoint, beside the policy, optimizer, scheduler, RNG state and trainer state (episodes and updates done);
    (3) given a checkpoint, restores all of that and lets TRL's own loop run the remaining updates."""
    import torch
    from transformers import TrainerCallback
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
    from trl.experimental.ppo import PPOTrainer
    from trl.experimental.ppo.ppo_trainer import OnlineTrainerState

    class Stream(torch.utils.data.Sampler):
        """Indices of seeded per-pass permutations of the data, read as one stream from `position` on."""

        def __init__(self, size: int, seed: int, per_pass: int):
            self.size, self.seed, self.per_pass, self.position = size, seed, per_pass, 0

        def __len__(self):
            return self.per_pass

        def __iter__(self):
            for _ in range(self.per_pass):
                epoch, i = divmod(self.position, self.size)
                self.position += 1
                yield int(self._order(epoch)[i])

        @functools.cache  # noqa: B019 - one small permutation per pass, for the trainer's lifetime
        def _order(self, epoch: int):
            return torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + epoch))

    class Restore(TrainerCallback):
        """After TRL's train() resets its counters: the checkpoint's counters, log and RNG state."""

        def __init__(self, trainer, checkpoint: Path, saved):
            self.trainer, self.checkpoint, self.saved = trainer, checkpoint, saved

        def on_train_begin(self, args, state, control, **kwargs):
            for name in ("global_step", "episode", "log_history", "epoch", "total_flos", "max_steps"):
                setattr(state, name, getattr(self.saved, name))
            self.trainer._load_rng_state(str(self.checkpoint))

    class ResumablePPOTrainer(PPOTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            a = self.args
            self.stream = Stream(
                len(self.train_dataset), a.seed, max(len(self.train_dataset) // a.batch_size, 1) * a.batch_size
            )
            loader = torch.utils.data.DataLoader(
                self.train_dataset,
                batch_size=self.local_dataloader_batch_size,
                sampler=self.stream,
                collate_fn=self.data_collator,
                drop_last=True,
                generator=torch.Generator().manual_seed(a.seed),
            )
            self.dataloader = self.accelerator.prepare(loader)  # its own generator: the global RNG stays TRL's

        def save_model(self, output_dir=None, _internal_call=False):
            super().save_model(output_dir, _internal_call)
            if _internal_call and Path(output_dir).name.startswith(PREFIX_CHECKPOINT_DIR) and self.args.should_save:
                self.accelerator.unwrap_model(self.model).value_model.save_pretrained(Path(output_dir) / "value_model")

        def train(self, resume_from_checkpoint=None):
            total = self.args.num_total_batches
            if resume_from_checkpoint:
                checkpoint = Path(resume_from_checkpoint)
                saved = OnlineTrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
                self._load_weights(checkpoint)
                for part, file in ((self.optimizer, "optimizer.pt"), (self.lr_scheduler, "scheduler.pt")):
                    part.load_state_dict(torch.load(checkpoint / file, map_location="cpu", weights_only=True))
                self.stream.position = saved.global_step * self.args.batch_size
                self.args.num_total_batches = total - saved.global_step  # TRL's loop counts from update 1
                self.add_callback(Restore(self, checkpoint, saved))
            try:
                return super().train()
            finally:
                self.args.num_total_batches = total

        def _load_weights(self, checkpoint: Path) -> None:
            from safetensors.torch import load_file

            wrapper = self.accelerator.unwrap_model(self.model)
            if self.is_peft_model:
                from peft import load_peft_weights, set_peft_model_state_dict

                set_peft_model_state_dict(wrapper.policy, load_peft_weights(str(checkpoint)))
            else:
                wrapper.policy.load_state_dict(load_file(checkpoint / "model.safetensors"), strict=False)
            wrapper.value_model.load_state_dict(
                load_file(checkpoint / "value_model" / "model.safetensors"), strict=False
            )

    return ResumablePPOTrainer


def encode_prompts(stage, ctx, tokenizer, infos: dict, args):
    """Train/eval prompts as text, left-padded token ids, whether a chat template rendered them, and the counts of
    prompts left out (prompt + response must fit every model's context window: long_rows); at least one batch."""
    raw = load_prompts(stage, ctx)
    prompts, chat = as_policy_saw_them(raw, tokenizer, infos["policy"])
    window = min((i["context_window"] for i in infos.values() if i.get("context_window")), default=None)
    _, prompts, figures = shared.fit_prompts(
        stage, raw, prompts, tokenizer, chat, window, args.response_length, "response_length"
    )
    tokenizer.padding_side = "left"  # prompts are left-padded so responses follow them directly
    encoded = prompts.map(
        lambda b: tokenizer(b["prompt"], add_special_tokens=not chat), batched=True, remove_columns=["prompt"]
    )
    batch = args.per_device_train_batch_size * args.gradient_accumulation_steps
    if len(encoded["train"]) < batch:
        raise UserError(
            f"stage {stage.name}: {len(encoded['train'])} training prompts, fewer than one batch of "
            f"{batch}. Add prompts or lower train.per_device_train_batch_size"
        )
    return prompts, encoded, chat, figures


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
    history = [
        {k: h[k] for k in ("episode", *LOGGED) if k in h} for h in trainer.state.log_history if "objective/scores" in h
    ]
    if not history:
        return {"updates": 0}
    return {
        "updates": len(history),
        "episodes": history[-1].get("episode"),
        "train_scores_first": history[0]["objective/scores"],
        "train_scores_last": history[-1]["objective/scores"],
        "train_kl_last": history[-1]["objective/kl"],
        "train_log": history,
    }

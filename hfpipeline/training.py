"""Shared trainer plumbing: config objects from recipe values with hardware-aware defaults, resume, saving."""

import math
import shutil

from hfpipeline import models

OUR_DEFAULTS = {
    "report_to": "none",       # no tracker unless the recipe names one
    "logging_steps": 10,
    "save_total_limit": 1,
    "dataloader_num_workers": 0,
    "log_level_replica": "error",   # processes other than the main one stay quiet
}


def hardware_defaults(config_cls) -> dict:
    """fp32 and no activation checkpointing on CPU; bf16 where the GPU has it (TRL defaults to bf16 everywhere)."""
    import dataclasses

    import torch

    gpu = torch.cuda.is_available()
    names = {f.name for f in dataclasses.fields(config_cls)}
    # transformers 5 renames gradient_checkpointing to activation_checkpointing; set whichever this version has
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {"bf16": gpu and torch.cuda.is_bf16_supported(), "fp16": False, checkpointing: False,
            "dataloader_pin_memory": gpu}


def build_args(config_cls, stage, ctx, **stage_defaults):
    """`config_cls` (TrainingArguments, SFTConfig, ...) from, in rising priority: our defaults, hardware defaults,
    the stage kind's defaults, the recipe's defaults.train, the stage's train:. output_dir is always ours."""
    hardware = hardware_defaults(config_cls)
    given = {**ctx.recipe.defaults, **stage.train}
    if {"gradient_checkpointing", "activation_checkpointing"} & set(given):  # the recipe's choice, under either name
        hardware = {k: v for k, v in hardware.items() if not k.endswith("_checkpointing")}
    values = {**OUR_DEFAULTS, **hardware, "seed": ctx.recipe.seed, **stage_defaults, **given,
              "output_dir": str(ctx.stage_dir / "checkpoints")}
    args = config_cls(**values)
    world = args.world_size or 1   # PPOConfig shadows the world_size property with a field that is None until training
    ctx.info["global_batch"] = args.per_device_train_batch_size * world * args.gradient_accumulation_steps
    ctx.info["precision"] = "bf16" if args.bf16 else ("fp16" if args.fp16 else "fp32")
    return args


def train(trainer, ctx) -> dict:
    """Train, resuming from the stage's last checkpoint if an earlier attempt left one."""
    from transformers.trainer_utils import get_last_checkpoint

    checkpoints = ctx.stage_dir / "checkpoints"
    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    result = trainer.train(resume_from_checkpoint=last)
    return {**result.metrics, **loss_ends(trainer)}


def first_eval(trainer) -> dict:
    """Metrics of the evaluation that `eval_on_start` ran before the first step. (Evaluating before train() instead
    would leave the model unwrapped by DDP under several processes: ranks would train apart.)"""
    return next((h for h in trainer.state.log_history if "eval_loss" in h), {})


def loss_ends(trainer) -> dict:
    """First and last logged training loss: did it fall?"""
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"loss_first": losses[0], "loss_last": losses[-1]} if losses else {}


def finish(trainer, tokenizer, ctx, **handoff) -> None:
    """Save the final model (safetensors) + tokenizer + hand-off description and log history; drop checkpoints.
    Every process calls trainer.save_model, so FSDP and ZeRO-3 can gather their shards; the main one writes."""
    trainer.save_model(str(ctx.stage_dir))
    if trainer.args.should_save:
        (ctx.stage_dir / "training_args.bin").unlink(missing_ok=True)   # a pickle; run.json records the settings
        tokenizer.save_pretrained(ctx.stage_dir)
        models.write_handoff(ctx.stage_dir, trainer.accelerator.unwrap_model(trainer.model), tokenizer, **handoff)
        trainer.state.save_to_json(str(ctx.stage_dir / "trainer_state.json"))
        shutil.rmtree(ctx.stage_dir / "checkpoints", ignore_errors=True)


def perplexity(loss: float | None) -> float | None:
    """exp(loss), guarded against overflow."""
    return math.exp(min(loss, 50)) if loss is not None else None



"""The train/save path every trainer stage shares: config objects with hardware-fitted defaults, training that
resumes from the last checkpoint, the facts run.json records, and saving the final model with its card."""

import json
import math
import shutil
import sys
import time
from pathlib import Path

from hfpipeline import card, console, dist, threads, tracking
from hfpipeline.errors import UserError

OUR_DEFAULTS = {
    "report_to": "none",  # no tracker unless the recipe names one
    "logging_steps": 10,
    "save_total_limit": 1,
    "dataloader_num_workers": 0,
    "log_level_replica": "error",  # processes other than the main one stay quiet
}
FACTS = ("global_batch", "precision")  # what train() adds to the metrics that run.json also records
SAVE_EVERY_SECONDS = 300  # a checkpoint every 5 minutes of training unless the recipe sets save_strategy


def hardware_defaults(config_cls) -> dict:
    """fp32 and no activation checkpointing on CPU; bf16 where the GPU has it (TRL defaults to bf16 everywhere)."""
    import dataclasses

    import torch

    gpu = torch.cuda.is_available()
    names = {f.name for f in dataclasses.fields(config_cls)}
    # transformers 5 renames gradient_checkpointing to activation_checkpointing; set whichever this version has
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {
        "bf16": gpu and torch.cuda.is_bf16_supported(),
        "fp16": False,
        checkpointing: False,
        "dataloader_pin_memory": gpu,
    }


def build_args(config_cls, stage, ctx, **stage_defaults):
    """`config_cls` (TrainingArguments, SFTConfig, ...) from, in rising priority: our defaults, hardware defaults,
    the stage kind's defaults, the recipe's defaults.train, the stage's train:. output_dir is always ours."""
    hardware = hardware_defaults(config_cls)
    given = ctx.recipe.train_for(stage)
    if {"gradient_checkpointing", "activation_checkpointing"} & set(given):  # the recipe's choice, under either name
        hardware = {k: v for k, v in hardware.items() if not k.endswith("_checkpointing")}
    values = {
        **OUR_DEFAULTS,
        **hardware,
        "seed": ctx.recipe.seed,
        **stage_defaults,
        **given,
        "output_dir": str(ctx.stage_dir / "checkpoints"),
    }
    values = tracking.prepare(values, stage, ctx)  # trackers named in report_to log under STAGE_DIR/logs
    try:
        return config_cls(**values)
    except ValueError as e:  # the config's own cross-field checks (e.g. load_best_model_at_end with no eval)
        raise UserError(f"stage {stage.name}: train: {str(e).strip().splitlines()[0]}") from None


def train(trainer, ctx) -> dict:
    """Train, resuming from the stage's newest complete checkpoint if an earlier attempt left one (kinds that can
    resume); return the training metrics (train_loss and steps over the whole stage, across resumes), the first and
    last logged loss, and the FACTS."""
    threads.fit(trainer.model)  # one torch thread for small models on CPU unless the user chose
    checkpoint = last_complete_checkpoint(ctx.stage_dir / "checkpoints") if ctx.resumable else None
    start_step = _state(checkpoint).get("global_step", 0) if checkpoint else 0
    if checkpoint:
        print(
            f"[{ctx.stage_dir.name}] resuming from {checkpoint.name} (step {start_step})", file=sys.stderr, flush=True
        )
    console.quiet_progress(trainer, ctx.stage_dir, ctx.stage_dir.name)
    if ctx.resumable and "save_strategy" not in ctx.recipe.train_for(ctx.recipe.stage(ctx.stage_dir.name)):
        trainer.add_callback(timed_saves(SAVE_EVERY_SECONDS, save_block(trainer.args)))
    try:
        result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except KeyboardInterrupt:
        console.close_bars(trainer)
        raise
    metrics = dict(getattr(result, "metrics", None) or {})
    steps = trainer.state.global_step
    if start_step:  # the Trainer's own figures cover this attempt only: whole-stage loss; timings apart, labelled
        metrics["last_attempt"] = {
            k: metrics.pop(k)
            for k in ("train_runtime", "train_samples_per_second", "train_steps_per_second")
            if k in metrics
        }
        if "train_loss" in metrics:
            metrics["train_loss"] = _loss_over_attempts(
                trainer.state.log_history, start_step, steps, metrics["train_loss"]
            )
    return {
        **metrics,
        "train_steps": steps,
        "resumed_from_step": start_step,
        **loss_ends(trainer),
        **facts(trainer.args),
    }


def timed_saves(seconds: float, block: int = 1):
    """A callback that asks for a checkpoint once `seconds` of training passed since the last one, on steps that are
    multiples of `block`; every process follows the main one's clock, so all save together."""
    from transformers import TrainerCallback

    class TimedSaves(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.last = time.monotonic()

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step % block == 0 and dist.main_says(time.monotonic() - self.last >= seconds):
                control.should_save = True

        def on_save(self, args, state, control, **kwargs):
            self.last = time.monotonic()

    return TimedSaves()


def save_block(args) -> int:
    """RLOO/GRPO resume only where a batch of generations is used up: every steps_per_generation x num_iterations."""
    return (getattr(args, "steps_per_generation", None) or 1) * (getattr(args, "num_iterations", None) or 1)


COMPLETE = (
    ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors", "pytorch_model.bin"),
    ("trainer_state.json",),
    ("optimizer.pt", "optimizer.bin"),
    ("scheduler.pt",),
)


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint-N in `folder` that holds weights, trainer_state.json, optimizer and scheduler state;
    incomplete ones (a save cut short by a kill or a full disk) are skipped with a note."""
    if not folder.is_dir():
        return None
    found = sorted(
        (p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
        reverse=True,
    )
    for checkpoint in found:
        missing = [names[0] for names in COMPLETE if not any((checkpoint / n).exists() for n in names)]
        if not missing and _state(checkpoint):
            return checkpoint
        what = ", ".join(missing) or "a readable trainer_state.json"
        print(f"[{folder.parent.name}] skipping incomplete {checkpoint.name} (no {what})", file=sys.stderr, flush=True)
    return None


def _state(checkpoint: Path) -> dict:
    try:
        return json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return {}


def _loss_over_attempts(history: list[dict], start: int, end: int, attempt_loss: float) -> float:
    """The mean training loss over every step of the stage: the logged losses up to the resumed step (each weighted
    by the steps it averages) joined with this attempt's train_loss (the Trainer's covers this attempt only)."""
    before, previous = [], 0
    for h in history:
        if "loss" in h and h.get("step", 0) <= start:
            before.append((h["loss"], h["step"] - previous))
            previous = h["step"]
    weight = sum(w for _, w in before)
    if not weight or end <= start:
        return attempt_loss
    mean_before = sum(loss * w for loss, w in before) / weight
    return (mean_before * start + attempt_loss * (end - start)) / end


def facts(args) -> dict:
    """Global batch (all processes, accumulation included) and precision of a run."""
    world = args.world_size or 1  # PPOConfig shadows the world_size property with a field that is None until training
    batch = (
        getattr(args, "batch_size", None) or args.per_device_train_batch_size * world * args.gradient_accumulation_steps
    )  # PPOConfig computes its own batch_size
    return {"global_batch": batch, "precision": "bf16" if args.bf16 else ("fp16" if args.fp16 else "fp32")}


def first_eval(trainer) -> dict:
    """Metrics of the evaluation that `eval_on_start` ran before the first step. (Evaluating before train() instead
    would leave the model unwrapped by DDP under several processes: ranks would train apart.)"""
    return next((h for h in trainer.state.log_history if "eval_loss" in h), {})


def loss_ends(trainer) -> dict:
    """First and last logged training loss: did it fall?"""
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"loss_first": losses[0], "loss_last": losses[-1]} if losses else {}


def finish(trainer, tokenizer, ctx, model=None, **extra) -> None:
    """Save the final model (safetensors) + tokenizer + card (`model`, default the trained one, plus `extra`) and
    the log history; drop checkpoints. Every process calls trainer.save_model, so FSDP and ZeRO-3 can gather their
    shards; the main one writes the rest."""
    trainer.save_model(str(ctx.stage_dir))
    if dist.is_main():
        (ctx.stage_dir / "training_args.bin").unlink(missing_ok=True)  # a pickle; run.json records the settings
        tokenizer.save_pretrained(ctx.stage_dir)
        card.write(ctx.stage_dir, model or trainer.accelerator.unwrap_model(trainer.model), tokenizer, **extra)
        trainer.state.save_to_json(str(ctx.stage_dir / "trainer_state.json"))
        shutil.rmtree(ctx.stage_dir / "checkpoints", ignore_errors=True)
    dist.wait()  # later steps (evaluation) load the saved model on every process


def perplexity(loss: float | None) -> float | None:
    """exp(loss), guarded against overflow."""
    return math.exp(min(loss, 50)) if loss is not None else None

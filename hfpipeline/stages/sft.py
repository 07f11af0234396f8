"""`sft` stage: supervised fine-tuning of a causal LM with TRL's SFTTrainer on prompt/completion, conversational
(messages) or plain-text data. Loss falls on completions / assistant turns only unless the recipe says otherwise.
"""

import sys

from hfpipeline import data, models, training
from hfpipeline.errors import UserError
from hfpipeline.stages import shared

KIND_DEFAULTS = {"padding_free": False}   # pad each batch to its longest row (TRL's collator pads dynamically)
EXTRA_COLUMNS = ("tools", "chat_template_kwargs")   # columns TRL reads besides the text ones


def run(stage, ctx) -> dict:
    trainer, evaluating, conversational = build_trainer(stage, ctx)
    # train, with the validation figures before and after
    metrics = shared.train_before_after(trainer, ctx, evaluating, pick)
    # save
    training.finish(trainer, trainer.processing_class, ctx, prompt_format="chat" if conversational else "text")
    return metrics


def build_trainer(stage, ctx):
    """The stage's SFTTrainer, whether it has a validation split, and whether the data is conversational."""
    from trl import SFTConfig, SFTTrainer

    # data
    splits = load_data(stage, ctx)
    conversational = shared.is_conversational(splits["train"])
    # model
    tokenizer = shared.chat_tokenizer(stage, ctx, conversational, stage.options.get("chat_template"))
    model = build_policy(stage, ctx, tokenizer)
    # trainer
    defaults = {**KIND_DEFAULTS, "max_length": shared.max_length(model), "eval_on_start": "validation" in splits,
                "assistant_only_loss": conversational and assistant_mask_possible(tokenizer)}
    args = training.build_args(SFTConfig, stage, ctx, **defaults)
    trainer = SFTTrainer(model=model, args=args, processing_class=tokenizer,
                         train_dataset=splits["train"], eval_dataset=splits.get("validation"))
    return trainer, "validation" in splits, conversational


def load_data(stage, ctx):
    """Train (+ validation) splits with only the columns of one SFT format; hold out 5% when none is given."""
    splits = data.load_stage_data(stage, ctx.recipe.seed, evaluate=shared.wants_eval(stage, ctx))
    columns = splits["train"].column_names
    keep = next((fmt for fmt in (("prompt", "completion"), ("messages",), ("text",)) if set(fmt) <= set(columns)), None)
    if keep is None:
        raise UserError(f"stage {stage.name}: data has columns {', '.join(columns)}; sft needs prompt+completion, "
                        "messages or text. Map yours with prompt_field/completion_field/messages_field")
    keep += tuple(c for c in EXTRA_COLUMNS if c in columns)
    out = {name: split.select_columns(list(keep)) for name, split in splits.items() if name != "test"}
    return join_prompts(stage, out) if keep[:2] == ("prompt", "completion") else out


def runs_together(prompt, completion) -> bool:
    """Text prompt and completion that TRL would join into one word (`...brain only).The question...`)."""
    return bool(isinstance(prompt, str) and isinstance(completion, str) and prompt and completion
                and not prompt[-1].isspace() and not completion[0].isspace())


def join_prompts(stage, splits: dict) -> dict:
    """Rows whose prompt and completion would run together: the recipe's `separator` goes between them, else a
    warning with their count (the demo data's prompts end in 'Assistant:' and completions start with a space)."""
    separator = stage.options.get("separator")
    for name, split in splits.items():
        joined = sum(runs_together(p, c) for p, c in zip(split["prompt"], split["completion"]))
        if not joined:
            continue
        if separator is None:
            print(f"[{stage.name}] warning: {joined} of {len(split)} {name} rows join prompt and completion with no "
                  "space between them; set separator: \" \" (or \"\\n\") on the stage to put one there",
                  file=sys.stderr)
            continue
        splits[name] = split.map(lambda r: {"prompt": r["prompt"] + separator}
                                 if runs_together(r["prompt"], r["completion"]) else {})
    return splits


def assistant_mask_possible(tokenizer) -> bool:
    """Can TRL mask everything but assistant turns with this template ({% generation %} markers, or a known one)?"""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if has_generation_markers(tokenizer.chat_template or ""):
        return True
    try:
        return get_training_chat_template(tokenizer) is not None
    except ValueError:   # a template TRL cannot patch: train on whole conversations
        print("note: the chat template has no {% generation %} markers and TRL has no training version of it; "
              "the loss covers whole conversations", file=sys.stderr)
        return False


def build_policy(stage, ctx, tokenizer):
    """The causal LM to train, wrapped with LoRA adapters when the stage has peft:."""
    from transformers import AutoModelForCausalLM

    ref = stage.refs["model"]
    model = models.build_model(AutoModelForCausalLM, ref, ctx, tokenizer)
    return shared.add_lora(model, stage, ctx)


def pick(metrics: dict, when: str = "") -> dict:
    """eval_loss (and TRL's token accuracy) from evaluation metrics; `when`="before" renames them *_before."""
    keep = {k: v for k, v in metrics.items() if k in ("eval_loss", "eval_mean_token_accuracy")}
    return {f"{k}_{when}": v for k, v in keep.items()} if when else keep

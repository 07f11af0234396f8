"""`sft` stage: supervised fine-tuning of a causal LM with TRL's SFTTrainer on prompt/completion, conversational
(messages) or plain-text data. Loss falls on completions / assistant turns only unless the recipe says otherwise.
"""

import sys

from hfpipeline import data, lengths, models, training
from hfpipeline.errors import UserError
from hfpipeline.stages import shared

KIND_DEFAULTS = {"padding_free": False}  # pad each batch to its longest row (TRL's collator pads dynamically)
EXTRA_COLUMNS = ("tools", "chat_template_kwargs")  # columns TRL reads besides the text ones


def run(stage, ctx) -> dict:
    trainer, evaluating, conversational, figures = build_trainer(stage, ctx)
    # train, with the validation figures before and after
    metrics = {**figures, **shared.train_before_after(trainer, ctx, evaluating, pick)}
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
    # trainer (over-long rows: the stage's long_rows policy, counted)
    defaults = {
        **KIND_DEFAULTS,
        "max_length": shared.max_length(model),
        "eval_on_start": "validation" in splits,
        "assistant_only_loss": conversational and assistant_mask_possible(tokenizer),
    }
    args = training.build_args(SFTConfig, stage, ctx, **defaults)
    warn_wrapped(stage, args)
    measured = {name: token_lengths(split, tokenizer, conversational) for name, split in splits.items()}
    policy = stage.options.get("long_rows", "truncate")
    fitted = {
        name: lengths.apply_policy(stage, name, split, measured[name][0], args.max_length, policy)
        for name, split in splits.items()
    }
    trainer = SFTTrainer(
        model=model,
        args=args,
        processing_class=tokenizer,
        train_dataset=fitted["train"][0],
        eval_dataset=fitted.get("validation", (None,))[0],
    )
    prepared = {"train": trainer.train_dataset, "validation": trainer.eval_dataset}
    figures = {}
    for name, (_, over) in fitted.items():
        totals, targets = measured[name]
        kept = learned_tokens(prepared[name]) if targets else None
        figures.update(
            lengths.counts(
                stage,
                name,
                len(totals),
                len(prepared[name]),
                over,
                policy,
                args.max_length,
                sum(targets) if targets and kept is not None else None,
                kept,
            )
        )
    return trainer, "validation" in splits, conversational, figures


def warn_wrapped(stage, args) -> None:
    """TRL's wrapped packing cuts the joined rows into blocks with one causal mask: rows see each other. Said on the
    terminal (TRL's own warning goes to stage.log). bfd packing and padding_free keep rows apart through position_ids
    (docs/performance.md#padding-and-packing)."""
    if args.packing and args.packing_strategy == "wrapped":
        print(
            f"[{stage.name}] warning: packing_strategy: wrapped lets the rows in a block attend to each other; "
            "use packing_strategy: bfd to keep them apart",
            file=sys.stderr,
        )


def learned_tokens(prepared) -> int | None:
    """Tokens the loss covers in TRL's prepared split: its labels other than -100 (or its completion mask)."""
    columns = prepared.column_names
    if "labels" in columns:
        return sum(sum(t != -100 for t in row) for row in prepared["labels"])
    return sum(map(sum, prepared["completion_mask"])) if "completion_mask" in columns else None


def token_lengths(split, tokenizer, conversational: bool) -> tuple[list[int], list[int] | None]:
    """Tokens per row as TRL builds it (eos appended to text) and, for prompt/completion rows, tokens of the
    completion: what max_length truncates and what the loss covers."""
    eos = 0 if conversational else 1
    if conversational:
        texts = [tokenizer.apply_chat_template(m, tokenize=False) for m in split["messages"]]
    elif "prompt" in split.column_names:
        prompts = tokenizer(list(split["prompt"]), verbose=False)["input_ids"]
        texts = [p + c for p, c in zip(split["prompt"], split["completion"])]
    else:
        texts = list(split["text"])
    totals = [
        len(ids) + eos for ids in tokenizer(texts, add_special_tokens=not conversational, verbose=False)["input_ids"]
    ]
    if conversational or "prompt" not in split.column_names:
        return totals, None
    return totals, [max(total - len(p), 0) for total, p in zip(totals, prompts)]


def load_data(stage, ctx):
    """Train (+ validation) splits with only the columns of one SFT format; hold out 5% when none is given."""
    splits = data.load_stage_data(stage, ctx.recipe.seed, evaluate=shared.wants_eval(stage, ctx))
    columns = splits["train"].column_names
    keep = next((fmt for fmt in (("prompt", "completion"), ("messages",), ("text",)) if set(fmt) <= set(columns)), None)
    if keep is None:
        raise UserError(
            f"stage {stage.name}: data has columns {', '.join(columns)}; sft needs prompt+completion, "
            "messages or text. Map yours with prompt_field/completion_field/messages_field"
        )
    keep += tuple(c for c in EXTRA_COLUMNS if c in columns)
    out = {name: split.select_columns(list(keep)) for name, split in splits.items() if name != "test"}
    return join_prompts(stage, out) if keep[:2] == ("prompt", "completion") else out


def runs_together(prompt, completion) -> bool:
    """Text prompt and completion that TRL would join into one word (`...brain only).The question...`)."""
    return bool(
        isinstance(prompt, str)
        and isinstance(completion, str)
        and prompt
        and completion
        and not prompt[-1].isspace()
        and not completion[0].isspace()
    )


def join_prompts(stage, splits: dict) -> dict:
    """Rows whose prompt and completion would run together: the recipe's `separator` goes between them, else a
    warning with their count (the demo data's prompts end in 'Assistant:' and completions start with a space)."""
    separator = stage.options.get("separator")
    for name, split in splits.items():
        joined = sum(runs_together(p, c) for p, c in zip(split["prompt"], split["completion"]))
        if not joined:
            continue
        if separator is None:
            print(
                f"[{stage.name}] warning: {joined} of {len(split)} {name} rows join prompt and completion with no "
                'space between them; set separator: " " (or "\\n") on the stage to put one there',
                file=sys.stderr,
            )
            continue
        splits[name] = split.map(
            lambda r: {"prompt": r["prompt"] + separator} if runs_together(r["prompt"], r["completion"]) else {}
        )
    return splits


def assistant_mask_possible(tokenizer) -> bool:
    """Can TRL mask everything but assistant turns with this template ({% generation %} markers, or a known one)?"""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if has_generation_markers(tokenizer.chat_template or ""):
        return True
    try:
        return get_training_chat_template(tokenizer) is not None
    except ValueError:  # a template TRL cannot patch: train on whole conversations
        print(
            "note: the chat template has no {% generation %} markers and TRL has no training version of it; "
            "the loss covers whole conversations",
            file=sys.stderr,
        )
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

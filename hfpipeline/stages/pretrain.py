"""`pretrain` stage: causal-LM (objective: clm, decoders) or masked-LM (objective: mlm, encoders) training on raw
text grouped into blocks of the context window, from random weights (from_config) or continued from a checkpoint."""

import sys

from hfpipeline import card, data, models, training
from hfpipeline.errors import UserError

DEFAULT_BLOCK = 128  # tiny models on CPU; raise block_size for real runs


def run(stage, ctx) -> dict:
    from datasets import DatasetDict
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForMaskedLM,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
    )

    mlm = stage.options.get("objective", "clm") == "mlm"
    # model
    tokenizer = models.stage_tokenizer(stage, ctx)
    model = models.build_model(
        AutoModelForMaskedLM if mlm else AutoModelForCausalLM, stage.refs["model"], ctx, tokenizer
    )
    # BERT-style heads ignore num_items_in_batch; without this the Trainer scales their loss by processes x accumulation
    if mlm:
        model.accepts_loss_kwargs = False
    model = models.add_lora(model, stage.peft, "CAUSAL_LM" if not mlm else "FEATURE_EXTRACTION")
    block = block_size(stage, model, tokenizer)
    # data
    splits = data.load_stage_data(stage, ctx.recipe.seed)
    tokens = {}  # per split: tokens read, tokens in blocks (each batch's last partial block is left out)
    blocks = DatasetDict(
        {
            name: split.map(
                lambda b, name=name: group_texts(b["text"], tokenizer, block, mlm, tokens.setdefault(name, [0, 0])),
                batched=True,
                remove_columns=split.column_names,
                load_from_cache_file=False,  # the counts come from running it
                desc="grouping text into blocks",
            )
            for name, split in splits.items()
        }
    )
    figures = token_counts(stage, tokens)
    if len(blocks["train"]) == 0:
        raise UserError(
            f"stage {stage.name}: the data holds fewer tokens than one block of {block}. Add text or lower block_size"
        )
    # trainer
    args = training.build_args(TrainingArguments, stage, ctx, eval_strategy="epoch", num_train_epochs=1)
    collator = DataCollatorForLanguageModeling(
        tokenizer, mlm=mlm, mlm_probability=stage.options.get("mlm_probability", 0.15)
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=blocks["train"],
        eval_dataset=blocks["validation"],
        data_collator=collator,
        processing_class=tokenizer,
    )
    metrics = training.train(trainer, ctx)
    evaluated = trainer.evaluate() if len(blocks["validation"]) else {}
    # save
    training.finish(trainer, tokenizer, ctx, objective="mlm" if mlm else "clm", block_size=block)
    loss = evaluated.get("eval_loss")
    return {
        **metrics,
        **figures,
        **evaluated,
        "perplexity": training.perplexity(loss),
        "block_size": block,
        "train_blocks": len(blocks["train"]),
    }


def block_size(stage, model, tokenizer) -> int:
    """The block length: the recipe's block_size, else the model's context window capped at DEFAULT_BLOCK."""
    window = card.context_window(model.config) or DEFAULT_BLOCK
    wanted = stage.options.get("block_size") or min(window, DEFAULT_BLOCK, tokenizer.model_max_length)
    if wanted > window:
        raise UserError(f"stage {stage.name}: block_size {wanted} exceeds the model's context window {window}")
    return wanted


def group_texts(texts: list[str], tokenizer, block: int, mlm: bool, count: list | None = None) -> dict:
    """Tokenise, concatenate (eos between documents for causal LMs) and cut into full blocks; `count` adds the
    tokens read and the tokens kept in blocks."""
    # verbose=False: no "sequence length is longer than the specified maximum" warning: the blocks below cut it
    ids = tokenizer(texts, add_special_tokens=mlm, verbose=False)["input_ids"]
    sep = [tokenizer.eos_token_id] if not mlm and tokenizer.eos_token_id is not None else []
    flat = [t for doc in ids for t in doc + sep]
    n = len(flat) // block * block
    if count is not None:
        count[0], count[1] = count[0] + len(flat), count[1] + n
    return {"input_ids": [flat[i : i + block] for i in range(0, n, block)]}


def token_counts(stage, tokens: dict) -> dict:
    """Tokens read and left out (the partial block at the end of each batch of texts) per split, with a line."""
    figures = {}
    for name, (read, kept) in tokens.items():
        prefix = "" if name == "train" else f"{name}_"
        figures.update({f"{prefix}tokens_in": read, f"{prefix}tokens_dropped": read - kept})
        if read - kept:
            print(
                f"[{stage.name}] {name}: {read - kept} of {read} tokens left out (each batch's last partial block)",
                file=sys.stderr,
            )
    return figures

"""`reward` stage: a reward model (a sequence classifier with one output) trained with TRL's RewardTrainer on
preference pairs (prompt/chosen/rejected, or chosen/rejected sharing a prefix) or ranked rows expanded into pairs.
Reports pairwise accuracy on held-out pairs before and after training."""

from hfpipeline import data, feedback, handoff, models, training
from hfpipeline.errors import UserError

VALIDATION_SIZE = 0.1   # held-out share of rows when the data has no validation split
DEFAULTS = {"num_train_epochs": 1, "per_device_train_batch_size": 8, "per_device_eval_batch_size": 16,
            "learning_rate": 1e-4, "eval_strategy": "no"}


def run(stage, ctx) -> dict:
    from transformers import AutoModelForSequenceClassification, set_seed
    from trl import RewardConfig, RewardTrainer

    # data
    pairs = load_pairs(stage, ctx)
    # model
    tokenizer = models.stage_tokenizer(stage, ctx)
    handoff.check_model_tokenizer(stage, ctx, tokenizer)
    set_seed(ctx.recipe.seed)   # the score head starts random
    model = models.build_model(AutoModelForSequenceClassification, stage.refs["model"], ctx, tokenizer, num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id   # the score is read at the last non-pad token
    model = models.add_lora(model, stage.peft, "SEQ_CLS")
    # trainer
    window = handoff.context_window(model.config.to_dict()) or 1024
    args = training.build_args(RewardConfig, stage, ctx, **DEFAULTS, max_length=min(window, 1024))
    trainer = RewardTrainer(model=model, args=args, train_dataset=pairs["train"], eval_dataset=pairs["validation"],
                            processing_class=tokenizer)
    if len(trainer.train_dataset) == 0:
        raise UserError(f"stage {stage.name}: every training pair is longer than max_length {args.max_length} tokens. "
                        "Shorten the texts or raise train.max_length (up to the model's context window)")
    before = pair_accuracy(trainer)
    metrics = training.train(trainer, ctx)
    after = pair_accuracy(trainer)
    # save
    training.finish(trainer, tokenizer, ctx)
    return {**metrics, "accuracy": after, "accuracy_before": before, "train_pairs": len(trainer.train_dataset),
            "eval_pairs": len(trainer.eval_dataset)}


def load_pairs(stage, ctx):
    """train/validation pairs {prompt?, chosen, rejected}; ranked rows split first, then expanded to their pairs."""
    from datasets import Dataset, DatasetDict

    block = {k: v for k, v in stage.data.items() if k != "validation_size"}
    splits = data.load_splits(block, ctx.recipe.seed)
    source = stage.data.get("path") or stage.data.get("hub")
    for name, ds in splits.items():
        handoff.check_preference_rows(ds, f"stage {stage.name}: data {source} ({name} split)")
    held_out = "validation" if "validation" in splits else ("test" if "test" in splits else None)
    if held_out is None:
        splits = data.split_off(splits, "validation", stage.data.get("validation_size") or VALIDATION_SIZE,
                                ctx.recipe.seed)
        held_out = "validation"
    splits = DatasetDict({"train": splits["train"], "validation": splits[held_out]})
    if "responses" in splits["train"].column_names:
        demote = stage.options.get("demote_tags", ())
        return DatasetDict({name: Dataset.from_list(feedback.rows_to_pairs(_ranked(ds), demote_tags=demote))
                            for name, ds in splits.items()})
    keep = [c for c in ("prompt", "chosen", "rejected") if c in splits["train"].column_names]
    return splits.select_columns(keep)


def _ranked(ds) -> list[dict]:
    """Ranked rows as plain dicts; a tags struct loaded from JSONL lists every key, so drop the empty ones."""
    return [{**row, "tags": {k: v for k, v in (row.get("tags") or {}).items() if v}} for row in ds]


def pair_accuracy(trainer, batch_size: int = 32) -> float | None:
    """Share of held-out pairs whose chosen response scores above the rejected one."""
    import torch

    dataset, model = trainer.eval_dataset, trainer.model
    if not len(dataset):
        return None
    training_mode, correct = model.training, 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            batch = trainer.data_collator([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
            scores = model(input_ids=batch["input_ids"].to(model.device),
                           attention_mask=batch["attention_mask"].to(model.device)).logits.squeeze(-1)
            chosen, rejected = scores.chunk(2)
            correct += (chosen > rejected).sum().item()
    model.train(training_mode)
    return correct / len(dataset)

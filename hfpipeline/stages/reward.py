"""`reward` stage: a reward model (a sequence classifier with one output) trained with TRL's RewardTrainer on
preference pairs (prompt/chosen/rejected, or chosen/rejected sharing a prefix) or ranked rows expanded into pairs.
Reports pairwise accuracy on held-out pairs before and after training."""

from hfpipeline import card, data, feedback, handoff, lengths, models, training
from hfpipeline.errors import UserError

DEFAULTS = {
    "num_train_epochs": 1,
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 16,
    "learning_rate": 1e-4,
    "eval_strategy": "no",
}


def run(stage, ctx) -> dict:
    from transformers import AutoModelForSequenceClassification, set_seed
    from trl import RewardConfig, RewardTrainer

    # data
    pairs = load_pairs(stage, ctx)
    # model
    tokenizer = models.stage_tokenizer(stage, ctx)
    handoff.check_model_tokenizer(stage, ctx, tokenizer)
    set_seed(ctx.recipe.seed)  # the score head starts random
    model = models.build_model(AutoModelForSequenceClassification, stage.refs["model"], ctx, tokenizer, num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id  # the score is read at the last non-pad token
    model = models.add_lora(model, stage.peft, "SEQ_CLS")
    # trainer: eval_on_start gives the untrained model's pairwise accuracy on the held-out pairs
    window = min(card.context_window(model.config) or 1024, 1024)
    args = training.build_args(RewardConfig, stage, ctx, **DEFAULTS, max_length=window, eval_on_start=True)
    trainer = RewardTrainer(
        model=model,
        args=args,
        train_dataset=pairs["train"],
        eval_dataset=pairs["validation"],
        processing_class=tokenizer,
    )
    figures = dropped_pairs(stage, pairs, trainer, args.max_length)
    metrics = training.train(trainer, ctx)
    before = training.first_eval(trainer).get("eval_accuracy")
    after = trainer.evaluate()["eval_accuracy"]
    # save
    training.finish(trainer, tokenizer, ctx)
    return {
        **train_batch(metrics),
        **figures,
        "accuracy": after,
        "accuracy_before": before,
        "train_pairs": len(trainer.train_dataset),
        "eval_pairs": len(trainer.eval_dataset),
    }


def dropped_pairs(stage, pairs, trainer, limit: int) -> dict:
    """RewardTrainer leaves out pairs longer than max_length: count them per split (held-out ones too: the accuracy
    covers eval_pairs of validation_rows_in), or refuse them (long_rows: error)."""
    policy = stage.options.get("long_rows", "drop")
    figures = {}
    for name, prepared in (("train", trainer.train_dataset), ("validation", trainer.eval_dataset)):
        rows_in, rows_out = len(pairs[name]), len(prepared)
        if rows_out < rows_in and (policy == "error" or rows_out == 0):
            raise UserError(
                f"stage {stage.name}: {rows_in - rows_out} of {rows_in} {name} pairs are longer than "
                f"max_length {limit} tokens. Shorten them, raise train.max_length (up to the model's "
                "context window)" + (", or set long_rows: drop" if rows_out else "")
            )
        figures.update(lengths.counts(stage, name, rows_in, rows_out, rows_in - rows_out, "drop", limit))
    return figures


def train_batch(metrics: dict) -> dict:
    """TRL's running figures over training batches, named as such (the held-out ones are accuracy, eval_*)."""
    batch = ("accuracy", "mean_reward", "min_reward", "max_reward", "margin")
    return {f"train_batch_{k}" if k in batch else k: v for k, v in metrics.items()}


def load_pairs(stage, ctx):
    """train/validation pairs {prompt?, chosen, rejected}; ranked rows are split first, then expanded to pairs."""
    from datasets import DatasetDict

    splits = data.load_stage_data(stage, ctx.recipe.seed, check=handoff.preference_check(stage))
    splits = DatasetDict({"train": splits["train"], "validation": splits["validation"]})
    if "responses" in splits["train"].column_names:
        demote = stage.options.get("demote_tags", ())
        return DatasetDict({name: feedback.pairs_dataset(ds, demote) for name, ds in splits.items()})
    keep = [c for c in ("prompt", "chosen", "rejected") if c in splits["train"].column_names]
    return splits.select_columns(keep)

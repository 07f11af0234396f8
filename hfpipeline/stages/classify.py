"""`classify` stage: fine-tune an encoder (BERT style) with a sequence-classification head on texts or text pairs,
evaluate accuracy and macro-F1 every epoch, keep the best checkpoint, write held-out predictions.
The `hfpipeline classify` command is in hfpipeline.commands.classify."""

import sys
from collections import Counter
from pathlib import Path

from hfpipeline import card, data, dist, handoff, lengths, models, training
from hfpipeline.errors import UserError
from hfpipeline.files import write_text_atomic
from hfpipeline.kinds import KINDS

MAX_LENGTH = 128  # truncation length (tokens); padding is dynamic, per batch
# Head modules (BERT pooler + classifier, DistilBERT pre_classifier, decoders' score): trained and saved in full
# under LoRA, since a checkpoint without a classifier gets them freshly initialised.
HEAD = ["classifier", "pre_classifier", "pooler", "score"]


def run(stage, ctx) -> dict:
    # data
    block = stage.data
    dd = load_splits(stage, ctx)
    pair = bool(block.get("text_pair_field"))
    check_columns(dd, block, pair)
    names = label_names(dd, block)
    ids = label_ids(dd["train"], names)
    held = "test" if "test" in dd else "validation"
    # model
    from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, Trainer, TrainingArguments

    tokenizer = models.stage_tokenizer(stage, ctx)
    handoff.check_model_tokenizer(stage, ctx, tokenizer)
    model = build(AutoModelForSequenceClassification, stage, ctx, tokenizer, names)
    length = max_length(stage, model)
    encoded = {split: encode(ds, tokenizer, names, pair, length) for split, ds in dd.items()}
    figures = {}  # texts over max_length are truncated, held-out ones too: counted per split
    for split, ds in dd.items():
        sizes = tokenizer(list(ds["text"]), list(ds["text_pair"]) if pair else None, verbose=False)["input_ids"]
        figures.update(
            lengths.counts(stage, split, len(ds), len(ds), sum(len(ids) > length for ids in sizes), "truncate", length)
        )
    # trainer
    args = training.build_args(
        TrainingArguments,
        stage,
        ctx,
        eval_strategy="epoch",
        save_strategy="epoch",
        load_best_model_at_end=True,
        metric_for_best_model="accuracy",
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["validation"],
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=metric_fn(),
    )
    metrics = training.train(trainer, ctx)
    # evaluate
    out = trainer.predict(encoded[held], metric_key_prefix=held)
    probs = probabilities(out.predictions)
    majority = Counter(ids).most_common(1)[0][0]
    metrics.update(
        accuracy=out.metrics[f"{held}_accuracy"],
        f1_macro=out.metrics[f"{held}_f1_macro"],
        eval_split=held,
        majority_label=names[majority],
        majority_baseline=float((out.label_ids == majority).mean()),
        best_validation_accuracy=trainer.state.best_metric,
        labels=names,
        max_length=length,
        **figures,
        rows={split: len(ds) for split, ds in dd.items()},
    )
    # save
    training.finish(trainer, tokenizer, ctx, task="classify", labels=names, text_pair=pair, max_length=length)
    if dist.is_main():
        write_predictions(ctx.stage_dir / "predictions.jsonl", dd[held], out.label_ids, probs, names, pair)
    return metrics


# --- data ------------------------------------------------------------------------------------------------------


def load_splits(stage, ctx):
    """train, validation (else split off train) and test of the stage's data; other splits (imdb's unsupervised)
    and held-out splits without labels (GLUE's test, all -1) are left out."""
    from datasets import DatasetDict

    dd = data.load_splits(stage.data, ctx.recipe.seed)
    dd = DatasetDict({split: dd[split] for split in ("train", "validation", "test") if split in dd})
    for split in ("test", "validation"):
        if split in dd and "label" in dd[split].column_names and set(dd[split]["label"]) == {-1}:
            print(f"[{stage.name}] warning: the {split} split has no labels (all -1), left out", file=sys.stderr)
            del dd[split]
    if "validation" not in dd:
        dd = data.split_off(dd, "validation", KINDS["classify"].holdout, ctx.recipe.seed)
    return dd


def check_columns(dd, block: dict, pair: bool) -> None:
    """Every split has text, label (and text_pair) columns without empty values."""
    wanted = ["text", "label"] + (["text_pair"] if pair else [])
    data.require_columns(dd, block, wanted, text=("text", "text_pair"))
    for split, ds in dd.items():
        for column in wanted:
            field = block.get(f"{column}_field") or column
            missing = next((i for i, v in enumerate(ds[column]) if v is None), None)
            if missing is not None:
                raise UserError(
                    f"{data.source_of(block, split)}: a {split} row has no {field} ({str(ds[missing])[:80]}). "
                    f"Fill it in or remove the row"
                )
        if not len(ds):
            raise UserError(f"{data.source_of(block, split)}: {split} split has no rows")


def label_names(dd, block: dict) -> list[str]:
    """Label names in id order: a ClassLabel's names, else the sorted values seen in train (ints numerically).
    A label that appears only outside train is an error: the model could never predict it."""
    feature = dd["train"].features["label"]
    if hasattr(feature, "names"):  # ClassLabel: ids with names
        names, known = list(feature.names), set(range(len(feature.names)))
        for split, ds in dd.items():
            bad = set(ds["label"]) - known
            if bad:
                raise UserError(
                    f"{data.source_of(block, split)}: {split} split has label id {min(bad)}, outside 0-"
                    f"{len(names) - 1} ({', '.join(names)}). Remove the unlabelled rows"
                )
        return names
    values = set(dd["train"]["label"])
    numeric = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    names = [str(v) for v in sorted(values)] if numeric else sorted(map(str, values))
    if len(names) < 2:
        raise UserError(
            f"{data.source_of(block, 'train')}: train split has only one label ({names[0]!r}). "
            f"A classifier needs examples of at least two labels"
        )
    for split, ds in dd.items():
        unseen = sorted({str(v) for v in ds["label"]} - set(names))
        if unseen:
            raise UserError(
                f"{data.source_of(block, split)}: label {unseen[0]!r} appears in the {split} split but never in "
                f"train (train labels: {', '.join(names)}). Add training rows with it or drop those rows"
            )
    return names


def label_ids(ds, names: list[str]) -> list[int]:
    """Label values of a split as ids (ClassLabel values are ids already)."""
    if hasattr(ds.features["label"], "names"):
        return list(ds["label"])
    index = {name: i for i, name in enumerate(names)}
    return [index[str(v)] for v in ds["label"]]


def max_length(stage, model) -> int:
    """Truncation length: the stage's max_length option (default 128), within the model's positions."""
    return min(stage.options.get("max_length", MAX_LENGTH), card.context_window(model.config) or MAX_LENGTH)


def encode(ds, tokenizer, names: list[str], pair: bool, length: int):
    """Tokenise (truncate, no padding: the collator pads each batch) and attach label ids."""
    labels = label_ids(ds, names)

    def tokenize(batch, indices):
        enc = tokenizer(batch["text"], batch["text_pair"] if pair else None, truncation=True, max_length=length)
        enc["labels"] = [labels[i] for i in indices]
        return enc

    return ds.map(tokenize, batched=True, with_indices=True, remove_columns=ds.column_names)


# --- model and metrics -----------------------------------------------------------------------------------------


def build(auto_cls, stage, ctx, tokenizer, names: list[str]):
    """The classifier with a fresh head of len(names) labels, named in its config; LoRA if the stage asks."""
    ref = stage.refs["model"]
    labels = models.label_config(names)
    if "config" not in ref:
        labels["ignore_mismatched_sizes"] = True  # a checkpoint's old head may have another label count
    try:
        model = models.build_model(auto_cls, ref, ctx, tokenizer, **labels)
    except ValueError as e:  # e.g. a model type without a sequence-classification head
        raise UserError(
            f"stage {stage.name}: model {ctx.ref(ref) or ref['config']['model_type']}: {str(e).splitlines()[0]}"
        ) from None
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    # classification heads ignore num_items_in_batch; without this the Trainer scales the logged loss by
    # processes x accumulation steps (huggingface/transformers#47688)
    model.accepts_loss_kwargs = False
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        raise UserError(
            f"stage {stage.name}: the tokenizer has {len(tokenizer)} tokens but the model only "
            f"{model.get_input_embeddings().num_embeddings} embeddings. Use the model's own tokenizer"
        )
    peft = (
        {"modules_to_save": HEAD, "exclude_modules": rf".*\b({'|'.join(HEAD)})\b.*", **stage.peft}
        if stage.peft
        else None
    )
    return models.add_lora(model, peft, "SEQ_CLS")


def metric_fn():
    """compute_metrics for the Trainer: accuracy and macro-F1 through hfpipeline's evaluate modules."""
    from hfpipeline.metrics import load_metric

    accuracy, f1 = load_metric("accuracy"), load_metric("f1")

    def compute(prediction):
        predicted = probabilities(prediction.predictions).argmax(-1)
        refs = prediction.label_ids
        return {
            "accuracy": accuracy.compute(predictions=predicted, references=refs)["accuracy"],
            "f1_macro": f1.compute(predictions=predicted, references=refs)["f1"],
        }

    return compute


def probabilities(predictions):
    """Softmax of the logits in a Trainer prediction (which may hold more than logits)."""
    import numpy as np

    logits = predictions[0] if isinstance(predictions, tuple) else predictions
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def write_predictions(path: Path, ds, gold, probs, names: list[str], pair: bool) -> None:
    """One JSON line per held-out row: text(s), gold label, predicted label and its probability."""
    import json

    lines = []
    for i, row in enumerate(ds):
        top = int(probs[i].argmax())
        out = {
            "text": row["text"],
            **({"text_pair": row["text_pair"]} if pair else {}),
            "label": names[int(gold[i])],
            "predicted": names[top],
            "probability": round(float(probs[i, top]), 4),
        }
        lines.append(json.dumps(out, ensure_ascii=False) + "\n")
    write_text_atomic(path, "".join(lines))

"""`seq2seq` stage: fine-tune an encoder-decoder (T5, BART, mT5, ...) for summarisation or translation with
Seq2SeqTrainer, then generate for the test split and score it (ROUGE + the lead-N baseline, or sacreBLEU + chrF).
The `summarize` / `translate` commands live in hfpipeline.seq2seq_generate."""

import json
import sys

from hfpipeline import card, data, dist, models, seq2seq_scores, training
from hfpipeline.errors import UserError
from hfpipeline.files import write_text_atomic
from hfpipeline.seq2seq_generate import as_lengths, encoder_window

MAX_TARGET_LENGTH = 128  # target tokens kept for training, and max_new_tokens unless generation: says otherwise


def run(stage, ctx) -> dict:
    task = stage.options.get("task", "summarize")
    prefix = stage.options.get("prefix", "")
    # data
    dd = data.load_splits(stage.data, ctx.recipe.seed)
    rows_in = {split: len(ds) for split, ds in dd.items()}
    dd = clean(dd, stage)  # rows with an empty source or target dropped, counted below
    held = next((s for s in ("test", "validation") if s in dd), None)
    # model
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments

    tokenizer = stage_tokenizer(stage, ctx)
    model = build(stage, ctx, tokenizer)
    try:
        window = encoder_window(model, tokenizer, stage.options.get("max_source_length"))
    except UserError as e:
        raise UserError(f"stage {stage.name}: {e}") from None
    target_length = stage.options.get("max_target_length", MAX_TARGET_LENGTH)
    model.generation_config = generation_config(stage, model, target_length)
    model = models.add_lora(model, stage.peft, "SEQ_2_SEQ_LM")
    encoded = {
        split: encode(ds, tokenizer, prefix, window, target_length, f"[{stage.name}] {split}")
        for split, ds in dd.items()
    }
    truncation = {
        f"{'' if split == 'train' else split + '_'}{side}_rows_truncated": sum(ds[f"cut_{side}"])
        for split, ds in encoded.items()
        for side in ("source", "target")
    }  # held-out rows are cut too
    encoded = {split: ds.remove_columns(["cut_source", "cut_target"]) for split, ds in encoded.items()}
    for split, n in rows_in.items():
        prefix = "" if split == "train" else f"{split}_"
        truncation.update({f"{prefix}rows_in": n, f"{prefix}rows_dropped": n - len(dd[split])})
    warn_unknown(tokenizer, dd["train"], stage)
    # trainer
    args = training.build_args(Seq2SeqTrainingArguments, stage, ctx, predict_with_generate=True)
    trainer = Seq2SeqTrainer(
        model=model,
        args=args,
        train_dataset=encoded["train"],
        eval_dataset=encoded.get("validation"),
        processing_class=tokenizer,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
        compute_metrics=metric_fn(task, tokenizer),
    )
    metrics = training.train(trainer, ctx)
    metrics.update(rows={split: len(ds) for split, ds in dd.items()}, **truncation)
    # evaluate
    if held:
        trainer.compute_metrics = None  # scored below against the untokenised references
        out = trainer.predict(encoded[held], metric_key_prefix=held)
        predictions = decode(tokenizer, out.predictions)
        ds = dd[held]
        lead_n = seq2seq_scores.lead_size(dd["train"]["target"])
        metrics.update(
            seq2seq_scores.score(task, predictions, ds["target"], ds["source"], lead_n),
            eval_split=held,
            eval_loss=out.metrics.get(f"{held}_loss"),
        )
    # save
    handoff = {"task": task, "prefix": prefix, "max_source_length": window, "max_target_length": target_length}
    training.finish(trainer, tokenizer, ctx, **handoff)
    if dist.is_main():
        model.generation_config.save_pretrained(ctx.stage_dir)  # also next to LoRA adapters
        if held:
            write_predictions(ctx.stage_dir / "predictions.jsonl", dd[held], predictions)
    return metrics


# --- data ------------------------------------------------------------------------------------------------------


def clean(dd, stage):
    """Check every split has text source and target columns; drop rows with an empty source or target (saying
    how many); refuse a split left with no rows."""
    block = stage.data
    data.require_columns(dd, block, ["source", "target"], text=("source", "target"))
    for split, ds in dd.items():
        where = data.source_of(block, split)
        empty = [
            i
            for i, (s, t) in enumerate(zip(ds["source"], ds["target"]))
            if not (s or "").strip() or not (t or "").strip()
        ]
        if len(empty) == len(ds):
            raise UserError(
                f"{where}: every row of the {split} split has an empty source or target. "
                f"Check source_field / target_field"
            )
        if empty:
            print(
                f"[{stage.name}] warning: {where}: dropped {len(empty)} of {len(ds)} {split} rows with an empty "
                f"source or target (first: row {empty[0] + 1})",
                file=sys.stderr,
            )
            drop = set(empty)
            dd[split] = ds.select([i for i in range(len(ds)) if i not in drop])
    return dd


def encode(ds, tokenizer, prefix: str, window: int, target_length: int, label: str):
    """Token ids of prefix+source (cut to the encoder window) and labels (cut to target_length), saying how many
    were cut. Padding is left to the collator (per batch)."""

    def tokenize(batch):
        inputs, cut_sources = truncated(tokenizer, [prefix + s for s in batch["source"]], window)
        labels, cut_targets = truncated(tokenizer, batch["target"], target_length, target=True)
        return {
            "input_ids": inputs,
            "attention_mask": [[1] * len(r) for r in inputs],
            "labels": labels,
            "cut_source": cut_sources,
            "cut_target": cut_targets,
        }

    encoded = ds.map(tokenize, batched=True, remove_columns=ds.column_names)
    for column, what, limit, option in (
        ("cut_source", "source texts", window, "max_source_length"),
        ("cut_target", "target texts", target_length, "max_target_length"),
    ):
        if cut := sum(encoded[column]):
            print(
                f"{label}: warning: {cut} of {len(ds)} {what} are longer than {option} ({limit} tokens) and were "
                f"truncated. Raise {option} or shorten them",
                file=sys.stderr,
            )
    return encoded  # cut_source / cut_target stay for the counts; the collator never sees them (dropped in run)


def truncated(tokenizer, texts: list[str], limit: int, target: bool = False) -> tuple[list, list[bool]]:
    """Token ids of `texts` cut to `limit` tokens (the tokenizer keeps its end token), and which were longer."""

    def ids(batch, **kwargs):
        return tokenizer(**({"text_target": batch} if target else {"text": batch}), **kwargs)["input_ids"]

    rows = ids(texts, verbose=False)  # no "longer than the specified maximum" warning: we cut and count here
    longer = [len(row) > limit for row in rows]
    over = [i for i, cut in enumerate(longer) if cut]
    for i, row in zip(over, ids([texts[i] for i in over], truncation=True, max_length=limit) if over else []):
        rows[i] = row
    return rows, longer


def warn_unknown(tokenizer, ds, stage) -> None:
    """Warn when the tokenizer maps many target characters to <unk> (trained on other text than the targets)."""
    unk = tokenizer.unk_token_id
    if unk is None:
        return
    ids = [i for row in tokenizer(text_target=list(ds["target"][:2000]))["input_ids"] for i in row]
    share = ids.count(unk) / max(len(ids), 1)
    if share > 0.01:
        print(
            f"[{stage.name}] warning: {100 * share:.1f}% of target tokens are {tokenizer.unk_token}: the tokenizer "
            f"does not cover the targets' text. Train it on text that includes the target side",
            file=sys.stderr,
        )


# --- model -----------------------------------------------------------------------------------------------------


def stage_tokenizer(stage, ctx):
    """A checkpoint's own tokenizer (its embeddings are tied to it); the tokenizer: ref for from_config models
    or checkpoints that ship none."""
    ref, tok_ref = stage.refs["model"], stage.refs.get("tokenizer")
    if "config" not in ref and tok_ref and ctx.ref(tok_ref) != ctx.ref(ref):
        try:
            tokenizer = models.load_tokenizer(ctx.ref(ref), trust_remote_code=ref.get("trust_remote_code", False))
        except UserError:
            return models.stage_tokenizer(stage, ctx)
        print(
            f"[{stage.name}] using the tokenizer of {ctx.ref(ref)}; tokenizer: applies to models built from_config",
            file=sys.stderr,
        )
        return tokenizer
    return models.stage_tokenizer(stage, ctx)


def build(stage, ctx, tokenizer):
    """The encoder-decoder from a config, folder, earlier stage or Hub id; anything else is refused."""
    from transformers import AutoModelForSeq2SeqLM
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES

    ref = stage.refs["model"]
    model_type = ref["config"]["model_type"] if "config" in ref else card.config_of(ctx.ref(ref)).get("model_type")
    if model_type not in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES:  # the family, before any weights load
        raise UserError(
            f"stage {stage.name}: model {model_type if 'config' in ref else ctx.ref(ref)} is not an "
            f"encoder-decoder ({model_type}). Use T5, BART, mT5 or another model for AutoModelForSeq2SeqLM"
        )
    model = models.build_model(AutoModelForSeq2SeqLM, ref, ctx, tokenizer)
    # T5/BART average their own loss and ignore num_items_in_batch; without this the Trainer scales the logged
    # loss by processes x accumulation steps (huggingface/transformers#47688)
    model.accepts_loss_kwargs = False
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        raise UserError(
            f"stage {stage.name}: the tokenizer has {len(tokenizer)} tokens but the model only "
            f"{model.get_input_embeddings().num_embeddings} embeddings. Use the model's own tokenizer"
        )
    return model


def generation_config(stage, model, target_length: int):
    """The model's generation config with max_new_tokens = max_target_length and the recipe's generation:
    settings, checked now rather than when it is saved after training."""
    import copy

    config = copy.deepcopy(model.generation_config)
    try:
        config.update(**{"max_new_tokens": target_length, **stage.options.get("generation", {})})
        config.validate(strict=True)
    except ValueError as e:
        lines = [line.strip(" -") for line in str(e).splitlines() if line.strip(" -")]
        reasons = [line for line in lines if not line.startswith(("GenerationConfig is invalid", "If you're using"))]
        raise UserError(f"stage {stage.name}: generation: {'; '.join(reasons or lines[:1])}") from None
    return as_lengths(config)


# --- evaluation ------------------------------------------------------------------------------------------------


def decode(tokenizer, ids) -> list[str]:
    """Generated ids (padded with -100 between batches) -> stripped texts."""
    import numpy as np

    ids = np.where(ids < 0, tokenizer.pad_token_id, ids)
    return [t.strip() for t in tokenizer.batch_decode(ids, skip_special_tokens=True)]


def metric_fn(task: str, tokenizer):
    """compute_metrics for evaluations during training (eval_strategy): scores against the decoded labels."""

    def compute(prediction):
        return seq2seq_scores.score(
            task, decode(tokenizer, prediction.predictions), decode(tokenizer, prediction.label_ids)
        )

    return compute


def write_predictions(path, ds, predictions: list[str]) -> None:
    """One JSON line per held-out row: source, reference, prediction."""
    lines = [
        json.dumps({"source": row["source"], "reference": row["target"], "prediction": pred}, ensure_ascii=False) + "\n"
        for row, pred in zip(ds, predictions)
    ]
    write_text_atomic(path, "".join(lines))

"""`hfpipeline classify`: label texts with a trained classifier (a classify stage's output or any sequence
classifier folder)."""

import sys
from pathlib import Path

from hfpipeline import card, models, rundir
from hfpipeline.errors import UserError
from hfpipeline.files import read_jsonl, read_text
from hfpipeline.stages.classify import MAX_LENGTH


def predict_command(args) -> int:
    """`hfpipeline classify MODEL_OR_RUN_DIR [TEXT ...] [--file F]`: print label and probability per input."""
    from transformers.utils import logging

    logging.disable_progress_bar()  # no "Loading weights" bar around the answers
    inputs = read_inputs(args.texts, args.file)
    model, tokenizer, length = load_classifier(args.model)
    if note := unnamed_labels_note(model.config.id2label):
        print(note, file=sys.stderr)
    for (text, text_pair), (label, prob) in zip(inputs, predict(model, tokenizer, inputs, length)):
        shown = text if text_pair is None else f"{text} | {text_pair}"
        print(f"{label}\t{prob:.4f}\t{shown}")
    return 0


def unnamed_labels_note(id2label: dict) -> str | None:
    """When the training data gave bare ids (0, 1, ...) rather than names, say what the printed labels are."""
    names = [str(id2label[i]) for i in sorted(id2label)]
    if all(name.lstrip("-").isdigit() or name.startswith("LABEL_") for name in names):
        return (
            f"note: the labels printed are the training data's own ids ({', '.join(names)}); the data gave no "
            "names. Train on string labels or a ClassLabel column to see names here"
        )
    return None


def read_inputs(texts: list[str], file: str | None) -> list[tuple]:
    """(text, text_pair or None) pairs from the arguments, a JSONL or text file, or stdin lines."""
    if texts:
        rows = [(t, None) for t in texts]
    elif file and file.endswith(".jsonl"):
        rows = []
        for n, row in enumerate(read_jsonl(file), 1):
            if not isinstance(row.get("text"), str):
                raise UserError(
                    f'{file}: row {n} has no text. Each line needs a "text" key (and "text_pair" for pairs)'
                )
            rows.append((row["text"], row.get("text_pair")))
    else:
        rows = [(line, None) for line in read_lines(file)]
    if not rows:
        raise UserError(f"{file or 'stdin'}: no texts to classify. Give texts as arguments, --file or on stdin")
    return rows


def read_lines(file: str | None) -> list[str]:
    """Non-empty lines of a UTF-8 text file (or stdin)."""
    if file is None:
        return [line.strip() for line in sys.stdin if line.strip()]
    return [line.strip() for line in read_text(file).splitlines() if line.strip()]


def load_classifier(path: str):
    """Model (LoRA adapters merged, eval mode), tokenizer and truncation length of a classifier folder."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    folder = rundir.model_folder(path, kinds=("classify",))
    info = card.read(folder)
    kwargs = models.label_config(info["labels"]) if info.get("labels") else {}
    if not kwargs and (Path(folder) / "config.json").is_file():
        architectures = AutoConfig.from_pretrained(folder).architectures or []
        if not any(a.endswith("ForSequenceClassification") for a in architectures):
            raise UserError(
                f"{folder}: holds a {', '.join(architectures) or 'model'}, not a sequence classifier. "
                f"Point at a classify stage's output"
            )
    model = models.load_model(AutoModelForSequenceClassification, folder, **kwargs)
    length = info.get("max_length") or min(MAX_LENGTH, card.context_window(model.config) or MAX_LENGTH)
    return model.eval(), models.load_tokenizer(folder), length


def predict(model, tokenizer, inputs: list[tuple], length: int, batch_size: int = 32) -> list[tuple[str, float]]:
    """(label name, probability) of the top label for each (text, text_pair)."""
    import torch

    results = []
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start : start + batch_size]
        texts, pairs = [t for t, _ in batch], [p for _, p in batch]
        enc = tokenizer(
            texts,
            pairs if all(p is not None for p in pairs) else None,
            truncation=True,
            max_length=length,
            padding=True,
            return_tensors="pt",
        )
        with torch.no_grad():
            probs = model(**enc).logits.softmax(-1)
        top = probs.max(-1)
        results += [(model.config.id2label[int(i)], float(p)) for p, i in zip(top.values, top.indices)]
    return results

"""Plain transformers: fine-tune an encoder with a classification head on labelled texts, truncated to max_length
and padded per batch. Spec (JSON, argv[1]): model, data, batch, steps, max_length, lr, seed, out, defaults (true:
pad every text to max_length, as the transformers docs' fine-tuning tutorial does)."""

import json
import sys

from datasets import load_dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments

spec = json.loads(sys.argv[1])
tokenizer = AutoTokenizer.from_pretrained(spec["model"])
dataset = load_dataset("json", data_files=spec["data"], split="train")
labels = sorted(set(dataset["label"]))
model = AutoModelForSequenceClassification.from_pretrained(spec["model"], num_labels=len(labels))
padding = "max_length" if spec.get("defaults") else False  # False: DataCollatorWithPadding pads each batch


def encode(batch):
    enc = tokenizer(batch["text"], truncation=True, max_length=spec["max_length"], padding=padding)
    enc["labels"] = [labels.index(label) for label in batch["label"]]
    return enc


dataset = dataset.map(encode, batched=True, remove_columns=dataset.column_names)
args = TrainingArguments(
    output_dir=spec["out"],
    per_device_train_batch_size=spec["batch"],
    max_steps=spec["steps"],
    learning_rate=spec["lr"],
    seed=spec["seed"],
    report_to="none",
)
trainer = Trainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
trainer.train()

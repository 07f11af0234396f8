"""Plain transformers: a tiny T5 from a config trained to summarise ("summarize: " + document -> summary).
Spec (JSON, argv[1]): tokenizer, data, batch, steps, max_source_length, max_target_length, lr, seed, out."""

import json
import sys

from datasets import load_dataset
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    T5Config,
)

spec = json.loads(sys.argv[1])
tokenizer = AutoTokenizer.from_pretrained(spec["tokenizer"])
config = T5Config(
    d_model=128,
    d_kv=32,
    d_ff=256,
    num_heads=4,
    num_layers=2,
    num_decoder_layers=2,
    vocab_size=len(tokenizer),
    pad_token_id=tokenizer.pad_token_id,
    eos_token_id=tokenizer.eos_token_id,
    decoder_start_token_id=tokenizer.pad_token_id,
)
model = AutoModelForSeq2SeqLM.from_config(config)


def encode(batch):
    sources = ["summarize: " + d for d in batch["document"]]
    enc = tokenizer(sources, truncation=True, max_length=spec["max_source_length"])
    enc["labels"] = tokenizer(text_target=batch["summary"], truncation=True, max_length=spec["max_target_length"])[
        "input_ids"
    ]
    return enc


dataset = load_dataset("json", data_files=spec["data"], split="train")
dataset = dataset.map(encode, batched=True, remove_columns=dataset.column_names)
args = Seq2SeqTrainingArguments(
    output_dir=spec["out"],
    per_device_train_batch_size=spec["batch"],
    max_steps=spec["steps"],
    learning_rate=spec["lr"],
    seed=spec["seed"],
    report_to="none",
)
trainer = Seq2SeqTrainer(
    model=model,
    args=args,
    train_dataset=dataset,
    data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
    processing_class=tokenizer,
)
trainer.train()

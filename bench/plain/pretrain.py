"""Plain transformers: causal-LM pre-training of a tiny GPT-2 from a config, text cut into 128-token blocks (the
run_clm example's recipe). Spec (JSON, argv[1]): tokenizer, data, batch, steps, lr, seed, out."""

import json
import sys

from datasets import load_dataset
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DataCollatorForLanguageModeling,
    GPT2Config,
    Trainer,
    TrainingArguments,
)

spec = json.loads(sys.argv[1])
tokenizer = AutoTokenizer.from_pretrained(spec["tokenizer"])
config = GPT2Config(n_layer=2, n_embd=128, n_head=4, n_positions=128, vocab_size=len(tokenizer))
model = AutoModelForCausalLM.from_config(config)


def blocks(batch, size=128):
    ids = [t for doc in tokenizer(batch["text"])["input_ids"] for t in doc + [tokenizer.eos_token_id]]
    return {"input_ids": [ids[i : i + size] for i in range(0, len(ids) // size * size, size)]}


dataset = load_dataset("json", data_files=spec["data"], split="train")
dataset = dataset.map(blocks, batched=True, remove_columns=dataset.column_names)
args = TrainingArguments(
    output_dir=spec["out"],
    per_device_train_batch_size=spec["batch"],
    max_steps=spec["steps"],
    learning_rate=spec["lr"],
    seed=spec["seed"],
    report_to="none",
)
trainer = Trainer(
    model=model,
    args=args,
    train_dataset=dataset,
    data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
    processing_class=tokenizer,
)
trainer.train()

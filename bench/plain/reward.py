"""Plain TRL: RewardTrainer on prompt/chosen/rejected pairs (a one-output sequence classifier from the SFT model).
Spec (JSON, argv[1]): model, data, batch, steps, max_length, lr, seed, out, defaults (true: TRL's own RewardConfig
defaults for precision and checkpointing)."""

import json
import sys

from datasets import load_dataset
from trl import RewardConfig, RewardTrainer

spec = json.loads(sys.argv[1])
# defaults: TRL's bf16 + checkpointing; on a CPU TRL then asks for use_cpu=True ("Your setup doesn't support bf16/gpu")
fp32 = {"use_cpu": True} if spec.get("defaults") else {"bf16": False, "gradient_checkpointing": False}
args = RewardConfig(
    output_dir=spec["out"],
    per_device_train_batch_size=spec["batch"],
    max_steps=spec["steps"],
    max_length=spec["max_length"],
    learning_rate=spec["lr"],
    seed=spec["seed"],
    report_to="none",
    **fp32,
)
dataset = load_dataset("json", data_files=spec["data"], split="train")
trainer = RewardTrainer(model=spec["model"], args=args, train_dataset=dataset)
trainer.train()

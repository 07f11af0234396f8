"""Plain TRL: RLOOTrainer or GRPOTrainer (spec "trainer") on prompts, the reward model passed as a path.
Spec (JSON, argv[1]): trainer, model, reward_model, data, batch, steps, num_generations, max_completion_length,
temperature, beta, lr, seed, out, defaults (true: TRL's own config defaults for precision and checkpointing)."""

import json
import sys

import trl
from datasets import load_dataset

spec = json.loads(sys.argv[1])
# defaults: TRL's bf16 + checkpointing; on a CPU TRL then asks for use_cpu=True ("Your setup doesn't support bf16/gpu")
fp32 = {"use_cpu": True} if spec.get("defaults") else {"bf16": False, "gradient_checkpointing": False}
config = {"RLOOTrainer": trl.RLOOConfig, "GRPOTrainer": trl.GRPOConfig}[spec["trainer"]]
args = config(
    output_dir=spec["out"],
    per_device_train_batch_size=spec["batch"],
    max_steps=spec["steps"],
    num_generations=spec["num_generations"],
    max_completion_length=spec["max_completion_length"],
    temperature=spec["temperature"],
    beta=spec["beta"],
    learning_rate=spec["lr"],
    seed=spec["seed"],
    report_to="none",
    **fp32,
)
dataset = load_dataset("json", data_files=spec["data"], split="train").select_columns(["prompt"])
trainer = getattr(trl, spec["trainer"])(
    model=spec["model"], reward_funcs=spec["reward_model"], args=args, train_dataset=dataset
)
trainer.train()

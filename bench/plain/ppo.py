"""Plain TRL (< 1.13): the old PPOTrainer (trl.experimental.ppo) with policy + frozen reference from the SFT model,
reward and value models from the reward model. Spec (JSON, argv[1]): model, reward_model, data, batch, steps
(PPO updates), response_length, kl_coef, lr, seed, out, defaults (true: TRL's own PPOConfig defaults for precision
and checkpointing)."""

import json
import sys

from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
from trl.experimental.ppo import PPOConfig, PPOTrainer

spec = json.loads(sys.argv[1])
# defaults: TRL's bf16 + checkpointing; on a CPU TRL then asks for use_cpu=True ("Your setup doesn't support bf16/gpu")
fp32 = {"use_cpu": True} if spec.get("defaults") else {"bf16": False, "gradient_checkpointing": False}
tokenizer = AutoTokenizer.from_pretrained(spec["model"], padding_side="left")
policy = AutoModelForCausalLM.from_pretrained(spec["model"])
reference = AutoModelForCausalLM.from_pretrained(spec["model"])
reward = AutoModelForSequenceClassification.from_pretrained(spec["reward_model"], num_labels=1)
value = AutoModelForSequenceClassification.from_pretrained(spec["reward_model"], num_labels=1)
dataset = load_dataset("json", data_files=spec["data"], split="train").select_columns(["prompt"])
dataset = dataset.map(lambda b: tokenizer(b["prompt"]), batched=True, remove_columns=["prompt"])
args = PPOConfig(
    output_dir=spec["out"],
    per_device_train_batch_size=spec["batch"],
    total_episodes=spec["batch"] * spec["steps"],
    response_length=spec["response_length"],
    stop_token="eos",
    kl_coef=spec["kl_coef"],
    num_sample_generations=0,
    learning_rate=spec["lr"],
    seed=spec["seed"],
    report_to="none",
    **fp32,
)
trainer = PPOTrainer(
    args=args,
    processing_class=tokenizer,
    model=policy,
    ref_model=reference,
    reward_model=reward,
    value_model=value,
    train_dataset=dataset,
    eval_dataset=dataset.select(range(spec["batch"])),
)
trainer.train()

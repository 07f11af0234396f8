"""The tiny models and data the test files share: a decoder run (tok/ + sft/), a reward model trained from it, the
prompts and rows they learn from, and a Stage + Context for building one trainer without running a recipe."""

import json
from pathlib import Path

from conftest import write_jsonl

import hfpipeline
from hfpipeline.pipeline import Context
from hfpipeline.recipe import load_recipe

TOPICS = [
    ("reset my password", "Open Settings and click Reset password."),
    ("cook rice", "Rinse the rice, add water and simmer for fifteen minutes."),
    ("plant tomatoes", "Plant the seedlings in a sunny spot and water them twice a week."),
    ("make tea", "Pour boiling water over a tea bag and wait three minutes."),
    ("start running", "Run for ten minutes three times a week."),
    ("save money", "Set a budget and move money to savings on payday."),
]
FRAMES = ["How do I {t}?", "How can I {t}?", "What is the best way to {t}?", "Can you tell me how to {t}?"]
CURT = ["No idea.", "Figure it out.", "Look it up.", "Go away."]
TINY_GPT = {"from_config": "gpt2", "n_layer": 2, "n_embd": 32, "n_head": 2, "n_positions": 128}


def prompt(i: int) -> str:
    return f"User: {FRAMES[i % len(FRAMES)].format(t=TOPICS[i % len(TOPICS)][0])}\nAssistant:"


def instructions(n: int = 96) -> list[dict]:
    """Prompt/completion rows over every topic and wording."""
    return [{"prompt": prompt(i), "completion": f" Sure! {TOPICS[i % len(TOPICS)][1]}"} for i in range(n)]


def preferences(n: int = 96) -> list[dict]:
    """Polite answers chosen over curt ones."""
    return [
        {"prompt": prompt(i), "chosen": f" Sure! {TOPICS[i % len(TOPICS)][1]}", "rejected": f" {CURT[i % 4]}"}
        for i in range(n)
    ]


def decoder_run(tmp_path_factory) -> Path:
    """A run dir with tok/ (BPE from our tokenizer stage) and sft/ (tiny GPT-2 fine-tuned for a few steps),
    built once per test session and shared by test_sft, test_dpo and test_generation."""
    root = tmp_path_factory.getbasetemp() / "tiny-decoder"
    run_dir = root / "run"
    if (run_dir / "run.json").is_file() and all(
        s["status"] == "done" for s in json.loads((run_dir / "run.json").read_text())["stages"]
    ):
        return run_dir
    root.mkdir(exist_ok=True)
    data = write_jsonl(root / "instructions.jsonl", instructions())
    corpus = write_jsonl(
        root / "corpus.jsonl",
        [{"text": r["prompt"] + r["completion"]} for r in instructions()]
        + [{"text": r["prompt"] + r["rejected"]} for r in preferences()],
    )
    hfpipeline.run(
        {
            "name": "tiny-decoder",
            "seed": 0,
            "output_dir": str(run_dir),
            "stages": [
                {"name": "tok", "kind": "tokenizer", "data": str(corpus), "vocab_size": 400, "model_max_length": 128},
                {
                    "name": "sft",
                    "kind": "sft",
                    "model": TINY_GPT,
                    "tokenizer": "tok",
                    "data": str(data),
                    "train": {
                        "max_steps": 40,
                        "learning_rate": 3e-3,
                        "per_device_train_batch_size": 8,
                        "logging_steps": 5,
                    },
                },
            ],
        },
        overwrite=True,
    )
    return run_dir


def stage_and_ctx(tmp_path, stage: dict, seed: int = 0):
    """A validated Stage of a one-stage recipe and its Context, for building a trainer without running it."""
    recipe = load_recipe({"name": "t", "seed": seed, "output_dir": str(tmp_path / "run"), "stages": [stage]})
    run_dir = Path(recipe.output_dir)
    return recipe.stages[0], Context(recipe=recipe, run_dir=run_dir, stage_dir=run_dir / stage["name"])


def reward_run(tmp_path_factory) -> Path:
    """A run dir with rm/: a reward model trained from the shared tiny decoder's sft/ (built once per session)."""
    decoder = decoder_run(tmp_path_factory)
    root = tmp_path_factory.getbasetemp() / "tiny-reward"
    run_dir = root / "run"
    if (run_dir / "rm/metrics.json").is_file():
        return run_dir
    root.mkdir(exist_ok=True)
    data = write_jsonl(root / "prefs.jsonl", preferences(120))
    hfpipeline.run(
        {
            "name": "tiny-reward",
            "seed": 0,
            "output_dir": str(run_dir),
            "stages": [
                {
                    "name": "rm",
                    "kind": "reward",
                    "model": str(decoder / "sft"),
                    "data": {"path": str(data), "validation_size": 24},
                    "train": {
                        "max_steps": 24,
                        "learning_rate": 1e-3,
                        "per_device_train_batch_size": 8,
                        "logging_steps": 4,
                    },
                }
            ],
        },
        overwrite=True,
    )
    return run_dir


# recipes/rlhf.yaml and rloo.yaml cut down: a few steps of every stage on a slice of each demo dataset
CHAIN_CUT = {
    "stages.tok.vocab_size": 600,
    "stages.pretrain.model.n_embd": 32,
    "stages.pretrain.data": {"path": "demo:corpus", "max_rows": 200},
    "stages.pretrain.train.max_steps": 4,
    "stages.sft.data": {"path": "demo:instructions", "max_rows": 100},
    "stages.sft.train.max_steps": 6,
    "stages.reward.data": {"path": "demo:preferences", "max_rows": 60},
    "stages.reward.train.max_steps": 4,
}


def rl_cut(stage: str, **train) -> dict:
    """CHAIN_CUT plus the RL stage `stage` on 40 prompts (8 held out) with these train: values."""
    return {
        **CHAIN_CUT,
        f"stages.{stage}.data": {"path": "demo:preferences", "max_rows": 40},
        f"stages.{stage}.eval_prompts": {"path": "demo:prompts", "max_rows": 8},
        **{f"stages.{stage}.train.{key}": value for key, value in train.items()},
    }


RLHF_CUT = rl_cut("ppo", total_episodes=32, response_length=8)

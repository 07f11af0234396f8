"""Shared test setup: offline Hub, quiet TRL, small helpers for writing data and recipes."""

import json
import os
from pathlib import Path

import pytest
import yaml

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

REPO = Path(__file__).resolve().parent.parent


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_recipe(path: Path, recipe: dict) -> Path:
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


@pytest.fixture
def tmp_cwd(tmp_path, monkeypatch):
    """Run the test inside an empty temporary working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def decoder(tmp_path_factory) -> Path:
    """The tiny decoder run (tok/, sft/) shared by the decoder tests; built once per session."""
    from builders import decoder_run

    return decoder_run(tmp_path_factory)


@pytest.fixture(scope="session")
def reward(tmp_path_factory) -> Path:
    """The tiny reward-model run (rm/) trained from the shared decoder; built once per session."""
    from builders import reward_run

    return reward_run(tmp_path_factory)


def pytest_collection_modifyitems(items):
    """End-to-end runs (marker slow) get a longer timeout than the per-test default in pyproject.toml; tests of the
    ppo stage (marker ppo) are skipped on a TRL without PPOTrainer (>= 1.13; the hfpipeline[ppo] extra pins it)."""
    from hfpipeline.handoff import ppo_unavailable

    no_ppo = ppo_unavailable()
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(1800))
        if no_ppo and item.get_closest_marker("ppo"):
            item.add_marker(pytest.mark.skip(reason=no_ppo))


@pytest.fixture(scope="session", autouse=True)
def field_table():
    """The config-field table of the installed libraries, loaded (for versions other than the shipped snapshot's:
    generated and cached, with a one-time note on stderr) before any test, so the note falls in no test's output."""
    from hfpipeline import schema

    schema.config_fields("TrainingArguments")

"""Seeing a run: report.md + plots written when `run` ends (and by `hfpipeline report`), TensorBoard event files under
each stage folder (report_to pass-through), model cards (README.md) in every stage folder, carried by export.

One cut-down recipes/rlhf.yaml run (tokenizer, pretrain, sft, reward, ppo) with report_to: tensorboard serves the
end-to-end tests; the classify and seq2seq panels are checked on small run folders written here."""

import json
import os
import re
from pathlib import Path

import pytest
from builders import RLHF_CUT
from conftest import REPO, write_jsonl

import hfpipeline
from hfpipeline import report
from hfpipeline.cli import main

TRAINED = ("pretrain", "sft", "reward", "ppo")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("seen") / "run"
    overrides = {
        **RLHF_CUT,
        "output_dir": str(out),
        "defaults": {"train": {"report_to": "tensorboard"}},
        **{f"stages.{s}.train.logging_steps": 1 for s in ("pretrain", "sft", "reward")},
    }
    hfpipeline.run(str(REPO / "recipes/rlhf.yaml"), overrides)
    return out


def pixels(path: Path):
    import matplotlib.image

    return matplotlib.image.imread(str(path))


# --- the report ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_run_writes_the_report_with_a_plot_per_trained_stage(run):
    text = (run / "report.md").read_text()
    for name in ("tok", *TRAINED):
        assert f"## {name} (" in text
    assert "stage     kind       status" in text  # rundir.summary_table
    assert "| transformers | " in text and "| trl | " in text
    assert "[samples.jsonl](ppo/samples.jsonl)" in text and (run / "ppo/samples.jsonl").is_file()
    assert sorted(p.stem for p in (run / "plots").glob("*.png")) == sorted(TRAINED)  # nothing to plot for tok
    for name in TRAINED:
        assert f"![{name}](plots/{name}.png)" in text
        image = pixels(run / "plots" / f"{name}.png")
        assert image.shape[0] > 150 and image.shape[1] > 250
        assert image[..., :3].std() > 0.05  # drawn, not blank


@pytest.mark.slow
def test_each_stage_plots_what_it_logged(run):
    def titles(name):
        return {
            title: data
            for _, title, data in report.panels(run / name, json.loads((run / name / "metrics.json").read_text()))
        }

    pretrain = titles("pretrain")
    ((label, steps, losses),) = [s for s in pretrain["loss"] if s[0] == "train"]
    assert steps == [1, 2, 3, 4] and len(losses) == 4  # logging_steps 1, max_steps 4
    assert len(pretrain["learning rate"][0][2]) == 4
    reward = titles("reward")
    metrics = json.loads((run / "reward/metrics.json").read_text())
    bars = reward["pairwise accuracy (held out)"]
    assert bars == {"before": metrics["accuracy_before"], "after": metrics["accuracy"]}
    ppo = titles("ppo")
    updates = json.loads((run / "ppo/metrics.json").read_text())["updates"]
    for title in ("reward per update", "KL to the reference", "entropy"):
        assert len(ppo[title][0][2]) == updates == 2
    assert set(ppo["held-out reward"]) == {"SFT policy", "tuned policy"}
    assert "eval loss" in titles("sft")


@pytest.mark.slow
def test_report_command_rewrites_it(run, capsys):
    (run / "report.md").unlink()
    (run / "plots/ppo.png").unlink()
    assert main(["report", str(run)]) == 0
    assert capsys.readouterr().out.strip() == str(run / "report.md")
    assert (run / "report.md").is_file() and pixels(run / "plots/ppo.png")[..., :3].std() > 0.05


def test_report_of_a_folder_that_is_no_run_is_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"{tmp_path}: not a run directory (no run.json). Give the output_dir of a run"


def test_classifier_gets_a_confusion_matrix_and_seq2seq_its_baseline(tmp_path):
    run = tmp_path / "run"
    rows = [("pos", "pos"), ("pos", "neg"), ("neg", "neg"), ("neg", "neg"), ("neu", "pos")]
    write_jsonl(
        (run / "cls").mkdir(parents=True) or run / "cls/predictions.jsonl",
        [{"text": f"t{i}", "label": g, "predicted": p, "probability": 0.9} for i, (g, p) in enumerate(rows)],
    )
    (run / "cls/metrics.json").write_text(json.dumps({"accuracy": 0.6}))
    (run / "sum").mkdir()
    (run / "sum/metrics.json").write_text(
        json.dumps({"rougeL": 0.31, "lead_rougeL": 0.22, "rouge1": 0.4, "lead_rouge1": 0.35, "lead_n": 2})
    )
    (run / "run.json").write_text(
        json.dumps(
            {
                "name": "t",
                "seed": 1,
                "stages": [
                    {"name": "cls", "kind": "classify", "status": "done", "seconds": 1.0},
                    {"name": "sum", "kind": "seq2seq", "status": "done", "seconds": 2.0},
                ],
            }
        )
    )
    cls = report.panels(run / "cls", {"accuracy": 0.6})
    assert cls == [
        ("confusion", "confusion matrix (held out)", (["neg", "neu", "pos"], [[2, 0, 0], [0, 0, 1], [1, 0, 1]]))
    ]
    summary = report.panels(run / "sum", json.loads((run / "sum/metrics.json").read_text()))
    assert summary == [
        ("baseline", "scores beside the lead-N baseline", {"rougeL": (0.31, 0.22), "rouge1": (0.4, 0.35)})
    ]
    text = report.write(run).read_text()
    assert "[predictions.jsonl](cls/predictions.jsonl)" in text and "| lead_rougeL | 0.22 |" in text
    for name in ("cls", "sum"):
        assert pixels(run / f"plots/{name}.png")[..., :3].std() > 0.05


# --- tracking -----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_tensorboard_logs_each_stage_under_its_folder(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    loss_tags = {"pretrain": "train/loss", "sft": "train/loss", "reward": "train/loss", "ppo": "train/loss/policy_avg"}
    for name, tag in loss_tags.items():
        logs = run / name / "logs"
        assert list(logs.glob("events.out.tfevents.*")), name
        events = EventAccumulator(str(logs))
        events.Reload()
        scalars = events.Scalars(tag)
        assert len(scalars) >= 2 and all(s.value == s.value for s in scalars), name  # logged per step, no NaN
    assert not list((run / "tok").glob("logs"))


def test_trackers_point_at_the_stage_folder_and_names_default_to_recipe_and_stage(tmp_path, monkeypatch):
    from builders import stage_and_ctx
    from transformers import TrainingArguments

    from hfpipeline import training

    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    stage, ctx = stage_and_ctx(
        tmp_path,
        {
            "name": "cls",
            "kind": "classify",
            "model": "prajjwal1/bert-tiny",
            "data": {"path": "demo:reviews", "max_rows": 20},
            "train": {"report_to": ["tensorboard"]},
        },
    )
    args = training.build_args(TrainingArguments, stage, ctx)
    assert args.report_to == ["tensorboard"] and args.run_name == "cls" and args.project == ctx.recipe.name
    assert os.environ["TENSORBOARD_LOGGING_DIR"] == str((ctx.stage_dir / "logs").resolve())
    stage.train["run_name"] = "mine"
    assert training.build_args(TrainingArguments, stage, ctx).run_name == "mine"


# --- model cards --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_stage_folder_has_a_model_card_that_loads(run):
    from huggingface_hub import ModelCard

    for name, kind in (
        ("tok", "tokenizer"),
        ("pretrain", "pretrain"),
        ("sft", "sft"),
        ("reward", "reward"),
        ("ppo", "ppo"),
    ):
        card = ModelCard.load(run / name / "README.md")
        assert "hfpipeline" in card.data.tags and kind in card.data.tags
        assert f"# rlhf / {name}" in card.text and f"kind: {kind}" in card.text  # the recipe block
        assert "## Intended use and limits" in card.text
    assert ModelCard.load(run / "sft/README.md").data.pipeline_tag == "text-generation"
    reward = (run / "reward/README.md").read_text()
    assert "AutoModelForSequenceClassification" in reward and "stage `sft` of this run" in reward
    assert re.search(r"\| accuracy \| 0\.\d+ \|", reward)
    # the card's own loading code works
    code = re.search(r"```python\n(.*?)```", (run / "sft/README.md").read_text(), re.S).group(1)
    scope: dict = {}
    exec(code, scope)
    assert type(scope["model"]).__name__ == "GPT2LMHeadModel" and len(scope["tokenizer"]) == 600


@pytest.mark.slow
def test_export_carries_the_model_card(run, tmp_path):
    assert main(["export", str(run / "reward"), str(tmp_path / "out")]) == 0
    assert (tmp_path / "out/README.md").read_text() == (run / "reward/README.md").read_text()
    assert (run / "reward/stage.log").is_file()
    assert not (tmp_path / "out/logs").exists() and not (tmp_path / "out/stage.log").exists()


def test_lora_stage_card_loads_with_peft_and_export_notes_the_merge(decoder, tmp_path):
    from builders import instructions
    from huggingface_hub import ModelCard

    run = tmp_path / "run"
    data = str(write_jsonl(tmp_path / "d.jsonl", instructions(16)))
    hfpipeline.run(
        {
            "name": "lora",
            "seed": 0,
            "output_dir": str(run),
            "stages": [
                {
                    "name": "adapt",
                    "kind": "sft",
                    "model": str(decoder / "sft"),
                    "data": data,
                    "peft": {"r": 4},
                    "train": {"max_steps": 2, "per_device_train_batch_size": 8, "eval_strategy": "no"},
                }
            ],
        }
    )
    card = ModelCard.load(run / "adapt/README.md")
    assert {"peft", "lora", "sft"} <= set(card.data.tags) and card.data.base_model is None  # a folder, not a Hub id
    assert f"model: `{decoder / 'sft'}`" in card.text and "r: 4" in card.text
    code = re.search(r"```python\n(.*?)```", card.text, re.S).group(1)
    assert "from peft import AutoPeftModelForCausalLM" in code
    scope: dict = {}
    exec(code, scope)
    assert type(scope["model"]).__name__ == "PeftModelForCausalLM"
    assert main(["export", str(run / "adapt"), str(tmp_path / "out")]) == 0
    exported = (tmp_path / "out/README.md").read_text()
    assert exported.startswith(card.content.rstrip()) and "AutoModelForCausalLM.from_pretrained(FOLDER)" in exported

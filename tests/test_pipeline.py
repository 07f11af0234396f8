"""Run directory semantics: manifest, skip a done stage, refuse to clobber, --overwrite, Ctrl-C, summary."""

import dataclasses
import json
import sys
import types

import pytest
import yaml
from conftest import write_jsonl, write_recipe

import hfpipeline
from hfpipeline.cli import main
from hfpipeline.errors import UserError
from hfpipeline.kinds import KINDS


@pytest.fixture
def recipe(tmp_cwd):
    write_jsonl(tmp_cwd / "text.jsonl", [{"text": f"hello world number {i} is here"} for i in range(50)])
    return write_recipe(
        tmp_cwd / "r.yaml",
        {
            "name": "toks",
            "output_dir": "runs/toks",
            "stages": [
                {"name": "a", "kind": "tokenizer", "type": "bpe", "vocab_size": 300, "data": {"path": "text.jsonl"}},
                {
                    "name": "b",
                    "kind": "tokenizer",
                    "type": "wordpiece",
                    "vocab_size": 100,
                    "data": {"path": "text.jsonl"},
                },
            ],
        },
    )


def manifest(tmp_cwd):
    return json.loads((tmp_cwd / "runs/toks/run.json").read_text())


def test_run_writes_the_run_directory(recipe, tmp_cwd, capsys):
    assert main(["run", str(recipe)]) == 0
    run = tmp_cwd / "runs/toks"
    m = manifest(tmp_cwd)
    assert [s["status"] for s in m["stages"]] == ["done", "done"]
    assert m["seed"] == 42 and m["versions"]["transformers"] and m["versions"]["trl"]
    assert m["stages"][0]["headline"] == {
        "metric": "vocab_size",
        "value": json.loads((run / "a/metrics.json").read_text())["vocab_size"],
    }
    assert [row["stage"] for row in m["summary"]] == ["a", "b"]
    assert yaml.safe_load((run / "recipe.resolved.yaml").read_text())["name"] == "toks"
    assert (run / "b/tokenizer.json").is_file()
    table = capsys.readouterr().out
    assert "stage" in table and "vocab_size=" in table
    assert not list(run.rglob("*.tmp"))


def test_done_stage_is_skipped(recipe, tmp_cwd, capsys):
    main(["run", str(recipe)])
    before = (tmp_cwd / "runs/toks/a/tokenizer.json").stat().st_mtime_ns
    assert main(["run", str(recipe)]) == 0
    assert "[a] keep: done already, unchanged" in capsys.readouterr().err
    assert (tmp_cwd / "runs/toks/a/tokenizer.json").stat().st_mtime_ns == before


def test_changed_stage_reruns_alone_and_another_recipe_needs_overwrite(recipe, tmp_cwd, capsys):
    main(["run", str(recipe)])
    b_before = (tmp_cwd / "runs/toks/b/tokenizer.json").stat().st_mtime_ns
    assert main(["run", str(recipe), "stages.a.vocab_size=280"]) == 0  # a changed: a re-runs, b (independent) kept
    err = capsys.readouterr().err
    assert "[a] run: changed: stages.a.vocab_size: 300 -> 280" in err and "[b] keep" in err
    assert json.loads((tmp_cwd / "runs/toks/a/metrics.json").read_text())["vocab_size"] == 280
    assert (tmp_cwd / "runs/toks/b/tokenizer.json").stat().st_mtime_ns == b_before
    assert main(["run", str(recipe), "name=other"]) == 2
    err = capsys.readouterr().err
    assert "runs/toks: holds a run of a different recipe (toks)" in err and "--overwrite" in err
    assert manifest(tmp_cwd)["stages"][0]["status"] == "done"  # nothing lost


def test_non_run_directory_is_not_clobbered(recipe, tmp_cwd, capsys):
    (tmp_cwd / "runs/toks").mkdir(parents=True)
    (tmp_cwd / "runs/toks/precious.txt").write_text("keep me")
    assert main(["run", str(recipe)]) == 2
    assert "not an hfpipeline run directory" in capsys.readouterr().err
    assert (tmp_cwd / "runs/toks/precious.txt").read_text() == "keep me"


def test_only_reruns_one_stage_with_overwrite(recipe, tmp_cwd, capsys):
    main(["run", str(recipe)])
    b_before = (tmp_cwd / "runs/toks/b/tokenizer.json").stat().st_mtime_ns
    assert main(["run", str(recipe), "--only", "a", "--overwrite"]) == 0
    assert (tmp_cwd / "runs/toks/b/tokenizer.json").stat().st_mtime_ns == b_before
    assert main(["run", str(recipe), "--only", "zz"]) == 2


def test_only_needs_its_inputs_done(tmp_cwd, capsys):
    write_jsonl(tmp_cwd / "text.jsonl", [{"text": "a b c d e f g"}] * 20)
    r = write_recipe(
        tmp_cwd / "r.yaml",
        {
            "name": "x",
            "stages": [
                {"name": "tok", "kind": "tokenizer", "data": "text.jsonl"},
                {
                    "name": "lm",
                    "kind": "pretrain",
                    "tokenizer": "tok",
                    "data": "text.jsonl",
                    "model": {"from_config": "gpt2", "n_layer": 1, "n_embd": 16, "n_head": 2},
                },
            ],
        },
    )
    assert main(["run", str(r), "--only", "lm"]) == 2
    assert "comes from stage 'tok', which is not done" in capsys.readouterr().err


def fake_runner(monkeypatch, error):
    """Make the tokenizer kind run a stage that raises `error`."""

    def run(stage, ctx):
        raise error

    monkeypatch.setitem(sys.modules, "fake_runner", types.SimpleNamespace(run=run))
    monkeypatch.setitem(KINDS, "tokenizer", dataclasses.replace(KINDS["tokenizer"], runner="fake_runner"))


def test_interrupt_marks_stage_and_keeps_manifest_consistent(recipe, tmp_cwd, monkeypatch):
    fake_runner(monkeypatch, KeyboardInterrupt())
    assert main(["run", str(recipe)]) == 130
    m = manifest(tmp_cwd)
    assert [s["status"] for s in m["stages"]] == ["interrupted", "pending"]
    monkeypatch.setitem(
        KINDS, "tokenizer", dataclasses.replace(KINDS["tokenizer"], runner="hfpipeline.stages.tokenizer")
    )
    assert main(["run", str(recipe)]) == 0  # the rerun picks up where it stopped
    assert [s["status"] for s in manifest(tmp_cwd)["stages"]] == ["done", "done"]


def test_failure_is_recorded(recipe, tmp_cwd, monkeypatch):
    fake_runner(monkeypatch, UserError("data went away"))
    assert main(["run", str(recipe)]) == 2
    first = manifest(tmp_cwd)["stages"][0]
    assert first["status"] == "failed" and first["error"] == "UserError: data went away"


def test_python_api_run_and_load_recipe(recipe, tmp_cwd):
    m = hfpipeline.run(str(recipe), overrides=["output_dir=runs/api"])
    assert (tmp_cwd / "runs/api/run.json").is_file() and m["stages"][1]["status"] == "done"
    assert hfpipeline.load_recipe(str(recipe)).stage("b").options["type"] == "wordpiece"


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=[pytest.mark.ppo] if n == "ppo" else []) for n in sorted(KINDS)]
)
def test_every_kind_has_a_runner_and_a_known_config(name):
    """The registry is the one table: each kind's runner module exists and trains with run(stage, ctx); its
    config class is one validation knows; each ref accepts only products that stage folders hold."""
    import importlib

    from hfpipeline.kinds import ANY_TOKENIZER
    from hfpipeline.schema import config_fields

    kind = KINDS[name]
    assert callable(importlib.import_module(kind.runner).run)
    if kind.config:
        assert config_fields(kind.config_name)
    assert all(product in ANY_TOKENIZER for products in kind.refs.values() for product in products)


def test_overwrite_never_deletes_labels(recipe, tmp_cwd, capsys):
    main(["run", str(recipe)])
    labels = tmp_cwd / "runs/toks/a/batch.labels.jsonl"
    labels.write_text('{"id": "1", "ranking": [0, 1]}\n')
    assert main(["run", str(recipe), "--overwrite"]) == 2
    assert "human labels inside a stage folder" in capsys.readouterr().err
    assert labels.read_text() == '{"id": "1", "ranking": [0, 1]}\n'

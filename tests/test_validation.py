"""Recipe validation: every broken recipe gives its one-line error with file, line and key; overrides; API."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hfpipeline import load_recipe
from hfpipeline.cli import main
from hfpipeline.errors import RecipeErrors, UserError

BROKEN = Path(__file__).parent / "broken_recipes"
CASES = sorted(BROKEN.glob("*.yaml"))
REPO = Path(__file__).resolve().parent.parent


def expectation(path: Path) -> tuple[int | None, str]:
    head = path.read_text().splitlines()[0]
    m = re.match(r"# expect line (\d+): (.*)", head) or re.match(r"# expect: (.*)", head)
    return (int(m.group(1)), m.group(2)) if len(m.groups()) == 2 else (None, m.group(1))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_broken_recipe_error(path, monkeypatch, capsys):
    monkeypatch.chdir(BROKEN)
    line, message = expectation(path)
    assert main(["validate", path.name]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    first = errors[0]
    prefix = f"{path.name}:{line}: " if line else f"{path.name}: "
    assert first.startswith(prefix), first
    assert message in first, first
    assert "Traceback" not in "\n".join(errors)


def test_validate_cli_exit_code_and_no_traceback():
    out = subprocess.run(
        [sys.executable, "-m", "hfpipeline", "validate", "train-typo.yaml"], cwd=BROKEN, capture_output=True, text=True
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "train-typo.yaml:15: stages[1].train.learnin_rate: not a field of TrainingArguments "
        "(did you mean 'learning_rate'?)"
    ]


def test_all_problems_reported_at_once(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: x\nseed: no\nstages:\n  - name: t\n    kind: tokenizer\n    vocab_size: many\n"
        "    data: {path: demo:nope}\n    epochs: 2\n"
    )
    with pytest.raises(RecipeErrors) as err:
        load_recipe(recipe)
    keys = [m.split(": ")[1] for m in err.value.messages]
    assert keys == ["seed", "stages[0].epochs", "stages[0].vocab_size", "stages[0].data.path"]


SHIPPED = sorted((REPO / "recipes").glob("*.yaml"))  # recipes/accelerate/ holds launch configs, not recipes


def test_every_shipped_recipe_is_here():
    assert {p.name for p in SHIPPED} >= {
        "classify.yaml",
        "rlhf.yaml",
        "dpo.yaml",
        "summarize.yaml",
        "translate.yaml",
        "feedback.yaml",
    }


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=[pytest.mark.ppo] if "kind: ppo" in p.read_text() else []) for p in SHIPPED],
    ids=[p.name for p in SHIPPED],
)
def test_shipped_recipes_validate(path, capsys):
    assert main(["validate", str(path)]) == 0
    assert "OK" in capsys.readouterr().out


def _recipe_dict(tmp_path):
    return {
        "name": "d",
        "output_dir": str(tmp_path / "run"),
        "stages": [
            {"name": "tok", "kind": "tokenizer", "data": {"path": "demo:corpus"}, "vocab_size": 300},
            {
                "name": "lm",
                "kind": "pretrain",
                "tokenizer": "tok",
                "model": {"from_config": "gpt2", "n_layer": 2, "n_embd": 32, "n_head": 2},
                "data": {"path": "demo:corpus"},
                "train": {"learning_rate": "1e-3"},
            },
        ],
    }


def test_overrides_address_stages_by_name(tmp_path):
    recipe = load_recipe(
        _recipe_dict(tmp_path),
        ["stages.lm.train.learning_rate=5e-4", "output_dir=elsewhere", "stages.tok.vocab_size=400"],
    )
    assert recipe.output_dir == "elsewhere"
    assert recipe.stage("lm").train["learning_rate"] == 5e-4
    assert recipe.stage("tok").options["vocab_size"] == 400


def test_yaml_string_floats_become_floats(tmp_path):
    assert load_recipe(_recipe_dict(tmp_path)).stage("lm").train["learning_rate"] == 1e-3


def test_override_of_unknown_stage(tmp_path):
    with pytest.raises(
        RecipeErrors, match=r"override stages.lmm.train.learning_rate: no stage named 'lmm' \(did you mean 'lm'\?\)"
    ):
        load_recipe(_recipe_dict(tmp_path), ["stages.lmm.train.learning_rate=1"])


def test_override_is_validated(tmp_path):
    with pytest.raises(RecipeErrors, match=r"stages\[1\].train.learnin_rate: not a field"):
        load_recipe(_recipe_dict(tmp_path), ["stages.lm.train.learnin_rate=1"])


def test_refs_are_classified(tmp_path):
    model_dir = tmp_path / "local-model"
    model_dir.mkdir()
    d = _recipe_dict(tmp_path)
    d["stages"].append(
        {"name": "more", "kind": "pretrain", "model": str(model_dir), "tokenizer": "tok", "data": "demo:corpus"}
    )
    d["stages"].append({"name": "hub", "kind": "pretrain", "model": "org/some-model", "data": "demo:corpus"})
    d["stages"].append({"name": "cont", "kind": "pretrain", "model": "lm", "data": "demo:corpus"})
    recipe = load_recipe(d)
    assert recipe.stage("more").refs == {"model": {"dir": str(model_dir)}, "tokenizer": {"stage": "tok"}}
    assert recipe.stage("hub").refs == {"model": {"hub": "org/some-model"}}
    assert recipe.stage("cont").refs == {"model": {"stage": "lm"}}


def test_missing_recipe_file():
    with pytest.raises(UserError, match="nope.yaml: no such recipe file"):
        load_recipe("nope.yaml")


def test_yaml_no_is_the_string_no_for_strategy_fields(tmp_path):
    recipe = load_recipe(
        _recipe_dict(tmp_path), ["stages.lm.train.eval_strategy=no", "stages.lm.train.save_strategy=no"]
    )
    assert recipe.stage("lm").train["eval_strategy"] == "no" and recipe.stage("lm").train["save_strategy"] == "no"

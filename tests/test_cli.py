"""The command line: help, exit codes, and that --help and validate import neither torch nor transformers."""

import subprocess
import sys

import pytest
from conftest import REPO

from hfpipeline.cli import COMMANDS, main

HEAVY = ("torch", "transformers", "trl", "datasets", "accelerate", "peft", "evaluate")


def imported_modules(*args: str) -> set[str]:
    """Top-level modules a CLI call imports, from python -X importtime."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hfpipeline", *args], cwd=REPO, capture_output=True, text=True
    )
    names = set()
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.mark.parametrize("args", [["--help"], ["validate", "recipes/classify.yaml"], ["run", "--help"]])
def test_light_commands_import_no_heavy_library(args):
    if args[0] == "validate" and not (REPO / args[1]).exists():
        args = ["validate", "tests/broken_recipes/train-typo.yaml"]
    modules = imported_modules(*args)
    assert "hfpipeline" in modules
    assert not modules & set(HEAVY), modules & set(HEAVY)


def test_every_command_has_help():
    for name in COMMANDS:
        out = subprocess.run([sys.executable, "-m", "hfpipeline", name, "--help"], capture_output=True, text=True)
        assert out.returncode == 0, name
        assert "usage: hfpipeline " + name in out.stdout


def test_every_command_handler_exists():
    import importlib

    for name, (_, _, target) in COMMANDS.items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), name


def test_unknown_command_is_usage_error(capsys):
    with pytest.raises(SystemExit) as err:
        main(["frobnicate"])
    assert err.value.code == 2


def test_run_missing_recipe_exit_2(capsys):
    assert main(["run", "no-such-recipe.yaml"]) == 2
    assert capsys.readouterr().err.strip() == "no-such-recipe.yaml: no such recipe file"


def test_validate_ok_output(tmp_path, capsys):
    recipe = tmp_path / "ok.yaml"
    recipe.write_text("name: ok\nstages:\n  - {name: tok, kind: tokenizer, data: demo:corpus}\n")
    assert main(["validate", str(recipe)]) == 0
    assert "OK (1 stages: tok)" in capsys.readouterr().out


def test_overrides_may_follow_options():
    from hfpipeline.cli import build_parser

    args, extra = build_parser().parse_known_args(["run", "r.yaml", "--overwrite", "seed=3"])
    assert extra == ["seed=3"]
    assert main(["run", "no-such.yaml", "--overwrite", "seed=3"]) == 2  # parsed; fails on the missing file
    with pytest.raises(SystemExit):
        main(["run", "r.yaml", "--frobnicate"])

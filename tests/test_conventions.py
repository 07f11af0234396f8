"""Command-line conventions: a bare `hfpipeline` shows help, `--version`, `env`, --a_b for --a-b everywhere, launch
presets by name, and the recipes shipped inside the wheel."""

import shlex
import shutil
import subprocess
import sys
import zipfile

import pytest
from conftest import REPO, write_recipe

from hfpipeline.cli import build_parser, dashed, main
from hfpipeline.commands import launch


def hfpipeline(*args):
    return subprocess.run([sys.executable, "-m", "hfpipeline", *args], capture_output=True, text=True, cwd=REPO)


def test_bare_command_prints_help_and_succeeds():
    out = hfpipeline()
    assert out.returncode == 0 and out.stdout.startswith("usage: hfpipeline") and "report" in out.stdout


def test_version():
    from importlib import metadata

    out = hfpipeline("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"hfpipeline {metadata.version('hfpipeline')}"


def test_env_lists_versions_and_devices(capsys):
    import torch

    assert main(["env"]) == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert lines["transformers"] == __import__("transformers").__version__ and lines["python"] == sys.version.split()[0]
    assert int(lines["cpus"]) >= 1
    assert ("cuda:0" in lines) == torch.cuda.is_available()
    assert "accelerate default config" in lines


def test_underscores_in_long_options_mean_dashes():
    assert dashed(["sample", "m", "--max_new_tokens", "7", "--top_p=0.5", "-k", "2", "x_y", "--", "--a_b"]) == [
        "sample",
        "m",
        "--max-new-tokens",
        "7",
        "--top-p=0.5",
        "-k",
        "2",
        "x_y",
        "--",
        "--a_b",
    ]
    args = build_parser().parse_args(dashed(["sample", "m", "--prompts", "p_q.jsonl", "--max_new_tokens", "7"]))
    assert (args.max_new_tokens, args.prompts) == (7, "p_q.jsonl")


@pytest.fixture
def recipe(tmp_cwd):
    return write_recipe(
        tmp_cwd / "r.yaml",
        {
            "name": "conv",
            "stages": [
                {
                    "name": "tok",
                    "kind": "tokenizer",
                    "vocab_size": 200,
                    "data": {"path": "demo:reviews", "max_rows": 20},
                }
            ],
        },
    )


def test_launch_takes_a_preset_name(recipe, capsys):
    assert main(["launch", str(recipe), "--accelerate_config", "ddp", "--num_processes", "2", "--dry_run"]) == 0
    words = shlex.split(capsys.readouterr().out)
    assert words[:4] == ["accelerate", "launch", "--config_file", str(REPO / "recipes/accelerate/ddp.yaml")]
    assert launch.presets() == sorted(p.stem for p in (REPO / "recipes/accelerate").glob("*.yaml"))
    assert main(["launch", str(recipe), "--accelerate-config", "dpp", "--dry-run"]) == 2
    assert "ddp, deepspeed_zero2" in capsys.readouterr().err


@pytest.mark.slow
def test_wheel_ships_recipes_and_schema(tmp_path):
    source = tmp_path / "src"  # a copy: building in place would leave build/ in the checkout
    shutil.copytree(REPO / "hfpipeline", source / "hfpipeline", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "recipes", source / "recipes")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, source / name)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = tmp_path.glob("hfpipeline-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for recipe in (REPO / "recipes").rglob("*.yaml"):
        assert f"hfpipeline/recipes/{recipe.relative_to(REPO / 'recipes')}" in names
    assert {"hfpipeline/recipe.schema.json", "hfpipeline/config_help.json", "hfpipeline/report.py"} <= names

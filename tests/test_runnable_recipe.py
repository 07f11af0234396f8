"""Runnable recipes (first line `# coding: hfpipeline`): `python RECIPE`, `accelerate launch RECIPE` and
`torchrun RECIPE` run `hfpipeline run` on it with the same results; an error stays one line with exit 2; `validate`
warns about a recipe without the line; the installed hfpipeline.pth registers the codec and imports nothing."""

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, write_recipe
from test_distributed import RANKS_SCRIPT, saved_digests

from hfpipeline.cli import main
from hfpipeline.runnable import CODING_LINE, PROGRAM, has_coding_line

RLHF = REPO / "recipes/rlhf.yaml"
SHIPPED = sorted((REPO / "recipes").glob("*.yaml"))  # recipes/accelerate/ holds launch configs, not recipes
BIN = Path(sys.executable).parent
CUT = {  # rlhf.yaml down to a step or two of every stage: the process start is most of each run
    "stages.tok.vocab_size": 600,
    "stages.tok.data": {"path": "demo:corpus", "max_rows": 300},
    "stages.pretrain.model.n_embd": 16,
    "stages.pretrain.model.n_layer": 1,
    "stages.pretrain.data": {"path": "demo:corpus", "max_rows": 64},
    "stages.pretrain.train.max_steps": 2,
    "stages.sft.data": {"path": "demo:instructions", "max_rows": 32},
    "stages.sft.train.max_steps": 2,
    "stages.reward.data": {"path": "demo:preferences", "max_rows": 32},
    "stages.reward.train.max_steps": 2,
    "stages.ppo.data": {"path": "demo:preferences", "max_rows": 16},
    "stages.ppo.eval_prompts": {"path": "demo:prompts", "max_rows": 2},
    "stages.ppo.train.total_episodes": 16,
    "stages.ppo.train.response_length": 4,
}
# every run gets the same thread count (accelerate launch would set OMP_NUM_THREADS itself), or float sums differ
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "ACCELERATE_DISABLE_RICH": "1"}
LAUNCHERS = {  # how each runs a recipe: the recipe path and its arguments follow
    "hfpipeline": [str(BIN / "hfpipeline"), "run"],
    "python": [sys.executable],
    "accelerate": [str(BIN / "accelerate"), "launch"],
}
VOLATILE = {"started", "finished", "seconds", "owner", "attempts"}  # when, and which process


def cut_args() -> list[str]:
    return ["output_dir=run"] + [f"{key}={json.dumps(value)}" for key, value in CUT.items()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The cut-down rlhf.yaml run by each launcher at once (one thread each), each in its own folder."""
    root = tmp_path_factory.mktemp("runnable")
    procs = {}
    for name, launcher in LAUNCHERS.items():
        (root / name).mkdir()
        procs[name] = subprocess.Popen(
            [*launcher, str(RLHF), *cut_args()],
            cwd=root / name,
            env=ENV,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    outputs = {name: proc.communicate(timeout=600)[0] for name, proc in procs.items()}
    for name, proc in procs.items():
        assert proc.returncode == 0, f"{name}: {outputs[name][-3000:]}"
    return root


def manifest(run_dir: Path) -> dict:
    run = json.loads((run_dir / "run.json").read_text())
    return {
        "name": run["name"],
        "stages": [{k: v for k, v in s.items() if k not in VOLATILE} for s in run["stages"]],
    }


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["python", "accelerate"])
def test_recipe_run_by_launcher_equals_hfpipeline_run(runs, launcher):
    expected, got = runs / "hfpipeline/run", runs / launcher / "run"
    assert manifest(got) == manifest(expected)
    assert [s["status"] for s in manifest(got)["stages"]] == ["done"] * 5
    files = sorted(p.relative_to(expected) for p in expected.rglob("*") if p.is_file())
    assert sorted(p.relative_to(got) for p in got.rglob("*") if p.is_file()) == files
    weights = [f for f in files if f.suffix == ".safetensors"]
    assert len(weights) == 5  # pretrain, sft, reward, ppo policy and value model
    for f in [*weights, Path("tok/tokenizer.json"), Path("ppo/samples.jsonl")]:
        assert (got / f).read_bytes() == (expected / f).read_bytes(), f


@pytest.mark.slow
def test_torchrun_two_processes_hold_the_saved_weights(runs, tmp_path):
    """`torchrun --nproc_per_node 2 RECIPE ... --only sft --overwrite` on a copy of the finished run: the flags reach
    `hfpipeline run`, one run directory is written, and both ranks hold the weights saved there."""
    shutil.copytree(runs / "hfpipeline/run", tmp_path / "run")
    hooks = tmp_path / "hooks"  # test_distributed's per-rank weight digests, loaded into every process at start
    hooks.mkdir()
    assert RANKS_SCRIPT.rstrip().endswith("sys.exit(main())")
    (hooks / "sitecustomize.py").write_text(RANKS_SCRIPT.rstrip().removesuffix("sys.exit(main())"))
    out = subprocess.run(
        [
            str(BIN / "torchrun"),
            "--standalone",
            "--nproc_per_node",
            "2",
            str(RLHF),
            *cut_args(),
            "--only",
            "sft",
            "--overwrite",
        ],
        cwd=tmp_path,
        env={**ENV, "PYTHONPATH": str(hooks)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stderr.count("[sft] run: ") == 1  # the main process speaks for both
    stages = {s["name"]: s for s in manifest(tmp_path / "run")["stages"]}
    assert stages["sft"]["status"] == "done"
    assert stages["sft"]["distributed"] == {"processes": 2, "type": "MULTI_CPU", "backend": "gloo"}
    ranks = json.loads((hooks / "weights-sft.json").read_text())
    saved = saved_digests(tmp_path / "run/sft")
    assert len(ranks) == 2 and len(saved) > 5
    for held in ranks:
        assert {name: held[name] for name in saved} == saved
    assert saved_digests(tmp_path / "run/pretrain") == saved_digests(runs / "hfpipeline/run/pretrain")  # not re-run


@pytest.mark.parametrize("launcher", ["python", "accelerate"])
def test_an_error_is_one_line_and_exit_2(launcher, tmp_path, capsys, monkeypatch):
    args = ["recipes/rloo.yaml", f"output_dir={tmp_path / 'run'}", "stages.sft.train.learnin_rate=1"]
    monkeypatch.chdir(REPO)
    assert main(["run", *args]) == 2
    expected = capsys.readouterr().err.strip()
    assert "learnin_rate" in expected and "\n" not in expected
    out = subprocess.run([*LAUNCHERS[launcher], *args], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    assert out.stderr.splitlines()[-1] == expected and out.stderr.count(expected) == 1
    if launcher == "python":  # accelerate says first which launch settings it defaulted
        assert out.stderr.strip() == expected
    assert not (tmp_path / "run").exists()


def test_without_the_pth_python_names_the_unknown_encoding():
    out = subprocess.run([sys.executable, "-S", str(RLHF)], capture_output=True, text=True, timeout=60)  # no site
    assert out.returncode == 1 and "SyntaxError: encoding problem: hfpipeline" in out.stderr


def test_installed_pth_registers_the_codec_and_imports_nothing():
    started = "import sys; print(sorted(m for m in sys.modules if m.startswith('hfpipeline')))"
    looked_up = "import codecs; print(codecs.lookup('HFPipeline').name)"
    for code, expected in [(started, "[]"), (looked_up, "hfpipeline")]:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == expected, out.stderr


def test_reading_the_file_through_the_codec_gives_the_program_once(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(f"{CODING_LINE}\nname: ü\n" + "# padding\n" * 2000, encoding="utf-8")
    assert path.read_text(encoding="hfpipeline") == PROGRAM
    assert path.read_bytes().decode("hfpipeline") == PROGRAM
    with open(path, encoding="hfpipeline") as f:  # line by line to the end and past it, as the tokenizer reads
        lines = [f.readline() for _ in range(5)]
    assert "".join(lines) == PROGRAM and lines[-1] == ""
    wrapper = io.TextIOWrapper(io.BufferedReader(io.BytesIO(path.read_bytes()), buffer_size=7), encoding="hfpipeline")
    assert wrapper.read() == PROGRAM and wrapper.read() == ""
    import codecs

    with codecs.open(path, encoding="hfpipeline") as f:
        assert f.read() == PROGRAM
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == {"name": "ü"}


def test_has_coding_line(tmp_path):
    cases = {
        f"{CODING_LINE}\nname: x\n": True,
        f"#!/usr/bin/env python\n{CODING_LINE}\n": True,
        "# -*- coding: HFPipeline -*-\n": True,
        f"\n{CODING_LINE}\n": True,
        f"name: x\n{CODING_LINE}\n": False,
        f"# coding: utf-8\n{CODING_LINE}\n": False,
        f"# one\n# two\n{CODING_LINE}\n": False,
        "": False,
    }
    for i, (text, expected) in enumerate(cases.items()):
        (tmp_path / f"{i}.yaml").write_text(text)
        assert has_coding_line(tmp_path / f"{i}.yaml") is expected, text


def test_validate_warns_about_a_recipe_without_the_coding_line(tmp_path, capsys):
    recipe = {"name": "r", "stages": [{"name": "tok", "kind": "tokenizer", "data": "demo:corpus"}]}
    path = write_recipe(tmp_path / "r.yaml", recipe)
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "OK (1 stages: tok)" in out
    assert err == (
        f"{path}: warning: no `{CODING_LINE}` first line, so `python {path}` and "
        f"`accelerate launch {path}` cannot run it (`hfpipeline run` can)\n"
    )
    path.write_text(f"{CODING_LINE}\n{path.read_text()}")
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=p.name, marks=[pytest.mark.ppo] if "kind: ppo" in p.read_text() else []) for p in SHIPPED],
)
def test_shipped_recipe_starts_with_the_coding_line_and_stays_yaml(path, capsys):
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == CODING_LINE
    assert f"accelerate launch recipes/{path.name}" in text and f"python recipes/{path.name}" in text
    assert isinstance(yaml.safe_load(text)["stages"], list)
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().err == ""

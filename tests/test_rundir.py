"""A run directory you can trust: per-stage fingerprints and --plan, the lock (a second process, a stale lock),
SIGKILL/SIGTERM then resume, only complete checkpoints, done stages verified on disk, never deleting what hfpipeline
did not write, pre-flight of model references, reproducible tokenizers, figures over attempts."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import REPO, write_jsonl, write_recipe

from hfpipeline import lock, training
from hfpipeline.cli import main

TINY = {"from_config": "gpt2", "n_layer": 1, "n_embd": 16, "n_head": 2, "n_positions": 64}


def chain(tmp_cwd, max_steps: int = 4, save_steps: int | None = None) -> tuple:
    """tok (bpe) -> lm (tiny causal LM pretraining): a recipe whose second stage uses the first."""
    write_jsonl(tmp_cwd / "text.jsonl", [{"text": f"the cat {i} sat on the mat {i % 7} today"} for i in range(80)])
    train = {"max_steps": max_steps, "per_device_train_batch_size": 4, "logging_steps": 1, "learning_rate": 1e-3}
    if save_steps:
        train |= {"save_strategy": "steps", "save_steps": save_steps}
    recipe = write_recipe(
        tmp_cwd / "r.yaml",
        {
            "name": "chain",
            "seed": 0,
            "output_dir": "runs/c",
            "stages": [
                {"name": "tok", "kind": "tokenizer", "vocab_size": 300, "data": "text.jsonl", "model_max_length": 64},
                {
                    "name": "lm",
                    "kind": "pretrain",
                    "model": TINY,
                    "tokenizer": "tok",
                    "data": "text.jsonl",
                    "block_size": 16,
                    "train": train,
                },
            ],
        },
    )
    return recipe, tmp_cwd / "runs/c"


def read(run_dir) -> dict:
    return {s["name"]: s for s in json.loads((run_dir / "run.json").read_text())["stages"]}


def cli(*args, env=None, wait=True):
    """`python -m hfpipeline ...` in a second process."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "hfpipeline", *args], env=env, stderr=subprocess.PIPE, text=True)
    if wait:
        proc.wait(timeout=600)
    return proc


# --- fingerprints and --plan --------------------------------------------------------------------------------------


def test_changing_one_stage_reruns_it_and_keeps_the_rest_and_plan_says_why(tmp_cwd, capsys):
    recipe, run_dir = chain(tmp_cwd)
    assert main(["run", str(recipe)]) == 0
    tok_time = (run_dir / "tok/tokenizer.json").stat().st_mtime_ns
    manifest_before = (run_dir / "run.json").read_bytes()
    capsys.readouterr()
    assert main(["run", str(recipe), "stages.lm.train.learning_rate=0.002", "--plan"]) == 0
    out = capsys.readouterr().out
    assert "tok  keep    done already, unchanged" in out
    assert "lm   run     changed: stages.lm.train.learning_rate: 0.001 -> 0.002" in out
    assert (run_dir / "run.json").read_bytes() == manifest_before  # --plan runs and writes nothing
    assert main(["run", str(recipe), "stages.lm.train.learning_rate=0.002"]) == 0
    assert (run_dir / "tok/tokenizer.json").stat().st_mtime_ns == tok_time
    assert read(run_dir)["lm"]["resolved"]["stage"]["train"]["learning_rate"] == 0.002
    # a data file of the first stage changes: it re-runs, and so does the stage using it
    with open(tmp_cwd / "text.jsonl", "a") as f:
        f.write('{"text": "one more line"}\n')
    capsys.readouterr()
    assert main(["run", str(recipe), "stages.lm.train.learning_rate=0.002", "--plan"]) == 0
    out = capsys.readouterr().out
    assert "tok  run     changed: file text.jsonl changed" in out
    assert "lm   run     changed: " in out and "stage tok it uses changed" in out


def test_only_reruns_a_changed_stage_and_overwrite_reruns_only_the_selected(tmp_cwd, capsys):
    recipe, run_dir = chain(tmp_cwd)
    main(["run", str(recipe)])
    tok_time = (run_dir / "tok/tokenizer.json").stat().st_mtime_ns
    assert main(["run", str(recipe), "--only", "lm", "stages.lm.train.max_steps=3"]) == 0
    assert read(run_dir)["lm"]["train_steps"] == 3
    lm_time = (run_dir / "lm/model.safetensors").stat().st_mtime_ns
    assert main(["run", str(recipe), "--only", "tok", "--overwrite", "stages.lm.train.max_steps=3"]) == 0
    assert (run_dir / "tok/tokenizer.json").stat().st_mtime_ns != tok_time
    assert (run_dir / "lm/model.safetensors").stat().st_mtime_ns == lm_time  # --overwrite never resets the run


# --- done stages are verified -------------------------------------------------------------------------------------


def test_a_done_stage_whose_files_are_gone_reruns_with_what_depends_on_it(tmp_cwd, capsys):
    recipe, run_dir = chain(tmp_cwd)
    main(["run", str(recipe)])
    import shutil

    shutil.rmtree(run_dir / "tok")
    capsys.readouterr()
    assert main(["run", str(recipe)]) == 0
    err = capsys.readouterr().err
    assert "[tok] run: done but its folder runs/c/tok is missing" in err
    assert "[lm] run: uses stage tok, which re-runs" in err
    with open(run_dir / "lm/model.safetensors", "r+b") as f:  # a truncated weights file
        f.truncate(100)
    assert main(["run", str(recipe), "--plan"]) == 0
    assert "lm   run     done but runs/c/lm/model.safetensors is 100 bytes" in capsys.readouterr().out


def test_a_finished_stage_is_not_deleted_before_its_replacement_checked_its_inputs(tmp_cwd, capsys):
    recipe, run_dir = chain(tmp_cwd)
    main(["run", str(recipe)])
    (run_dir / "tok/tokenizer.json").unlink()  # the stage lm uses is no longer intact
    assert main(["run", str(recipe), "--only", "lm", "--overwrite"]) == 2
    assert (
        "its tokenizer comes from stage 'tok', which is done but runs/c/tok/tokenizer.json is missing"
        in capsys.readouterr().err
    )
    assert (run_dir / "lm/model.safetensors").is_file()  # lm's finished folder is still there


# --- never delete what hfpipeline did not write -------------------------------------------------------------------


def test_overwrite_never_deletes_a_folder_hfpipeline_did_not_write(tmp_cwd, capsys):
    recipe, run_dir = chain(tmp_cwd)
    (run_dir / "tok").mkdir(parents=True)
    (run_dir / "tok/precious.txt").write_text("keep me")
    assert main(["run", str(recipe)]) == 2
    assert "not an hfpipeline run directory" in capsys.readouterr().err
    assert main(["run", str(recipe), "--overwrite"]) == 2
    assert "runs/c/tok: not written by hfpipeline" in capsys.readouterr().err
    assert (run_dir / "tok/precious.txt").read_text() == "keep me"


# --- the lock -----------------------------------------------------------------------------------------------------


def test_a_second_run_into_a_busy_run_dir_exits_2_naming_the_owner(tmp_cwd, capsys):
    recipe, run_dir = chain(tmp_cwd, max_steps=60)
    first = cli("run", str(recipe), wait=False)
    deadline = time.time() + 120
    while not (run_dir / "run.lock").is_file() and time.time() < deadline:
        time.sleep(0.05)
    assert main(["run", str(recipe)]) == 2
    assert f"runs/c is in use by pid {first.pid} on {socket.gethostname()} since " in capsys.readouterr().err
    assert first.wait(timeout=600) == 0, first.stderr.read()
    assert not (run_dir / "run.lock").exists() and read(run_dir)["lm"]["status"] == "done"


def test_a_stale_lock_is_taken_over(tmp_cwd, capsys):
    recipe, run_dir = chain(tmp_cwd)
    gone = subprocess.Popen(["true"])
    gone.wait()
    run_dir.mkdir(parents=True)
    (run_dir / "run.lock").write_text(json.dumps({"pid": gone.pid, "host": socket.gethostname(), "started": 1.0}))
    assert main(["run", str(recipe), "--overwrite"]) == 0
    assert f"taking over the stale lock of pid {gone.pid}" in capsys.readouterr().err
    assert not (run_dir / "run.lock").exists()


def test_lock_is_exclusive_and_released():
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        held = lock.acquire(Path(d))
        assert json.loads(held.read_text())["pid"] == os.getpid()
        lock.release(held)
        assert not held.exists()


# --- kills resume -------------------------------------------------------------------------------------------------


def kill_after_first_checkpoint(recipe, run_dir, sig) -> subprocess.Popen:
    proc = cli("run", str(recipe), wait=False)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if training.last_complete_checkpoint(run_dir / "lm/checkpoints"):
            break
        time.sleep(0.02)
    os.kill(proc.pid, sig)
    proc.wait(timeout=120)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_stage_resumes_from_its_newest_complete_checkpoint(tmp_cwd, capsys, sig):
    recipe, run_dir = chain(tmp_cwd, max_steps=300, save_steps=10)
    proc = kill_after_first_checkpoint(recipe, run_dir, sig)
    entry = read(run_dir)["lm"]
    if sig == signal.SIGTERM:
        assert proc.returncode == 143 and entry["status"] == "interrupted"
    else:
        assert proc.returncode == -9 and entry["status"] == "running" and entry["owner"]["pid"] == proc.pid
    newest = training.last_complete_checkpoint(run_dir / "lm/checkpoints")
    assert newest is not None and (run_dir / "run.lock").exists() == (sig == signal.SIGKILL)
    (run_dir / "lm/checkpoints/checkpoint-9999").mkdir()  # an incomplete save (disk full) is skipped
    (run_dir / "lm/checkpoints/checkpoint-9999/trainer_state.json").write_text("{}")
    capsys.readouterr()
    assert main(["run", str(recipe)]) == 0
    err = capsys.readouterr().err
    assert "[tok] keep" in err and "skipping incomplete checkpoint-9999" in err
    assert f"[lm] resume: {'killed' if sig == signal.SIGKILL else 'interrupted'}" in err
    assert f"from {newest.name}" in err
    entry = read(run_dir)["lm"]
    metrics = json.loads((run_dir / "lm/metrics.json").read_text())
    assert entry["status"] == "done" and metrics["train_steps"] == 300 == entry["train_steps"]
    assert metrics["resumed_from_step"] == int(newest.name.split("-")[1])
    assert "train_runtime" not in metrics and metrics["last_attempt"]["train_runtime"] > 0  # labelled: last attempt
    assert [a["status"] for a in entry["attempts"]] == ["killed" if sig == signal.SIGKILL else "interrupted", "done"]
    assert entry["seconds"] == pytest.approx(sum(a["seconds"] for a in entry["attempts"]), abs=0.2)


def test_ctrl_c_keeps_the_timed_checkpoint_says_so_on_its_own_line_and_the_rerun_goes_on(tmp_cwd, capsys, monkeypatch):
    recipe, run_dir = chain(tmp_cwd, max_steps=12)  # no save_strategy in the recipe: timed checkpoints
    timed = training.timed_saves

    def ctrl_c_at_step_6(seconds, block=1):
        callback = timed(0, block)  # due at every step
        on_step_end = callback.on_step_end

        def stop(args, state, control, **kwargs):
            on_step_end(args, state, control, **kwargs)
            if state.global_step == 6:  # before step 6's save: checkpoint-5 is the newest
                raise KeyboardInterrupt

        callback.on_step_end = stop
        return callback

    monkeypatch.setattr(training, "timed_saves", ctrl_c_at_step_6)
    assert main(["run", str(recipe)]) == 130
    last = capsys.readouterr().err.splitlines()[-2:]
    assert last[0] == ""  # a line of its own, under the progress bar
    kept = "done and kept: tok; lm goes on from its checkpoint-5"
    assert last[1] == f"interrupted: {kept}. Resume with: hfpipeline run {recipe}"
    monkeypatch.setattr(training, "timed_saves", timed)
    assert main(["run", str(recipe)]) == 0
    err = capsys.readouterr().err
    assert "[lm] resume: interrupted; from checkpoint-5" in err and "[lm] done in " in err  # one line each
    metrics = json.loads((run_dir / "lm/metrics.json").read_text())
    assert metrics["resumed_from_step"] == 5 and metrics["train_steps"] == 12


def test_a_recipe_save_strategy_replaces_timed_checkpoints(tmp_cwd, monkeypatch):
    recipe, run_dir = chain(tmp_cwd, max_steps=6, save_steps=100)
    added = []
    monkeypatch.setattr(training, "timed_saves", lambda *a: added.append(a))
    assert main(["run", str(recipe)]) == 0
    assert added == []


def test_only_complete_checkpoints_count(tmp_path, capsys):
    folder = tmp_path / "stage/checkpoints"
    for step, files in ((50, ("model.safetensors", "optimizer.pt", "scheduler.pt")), (96, ("model.safetensors",))):
        (folder / f"checkpoint-{step}").mkdir(parents=True)
        for name in files:
            (folder / f"checkpoint-{step}" / name).write_bytes(b"x")
        (folder / f"checkpoint-{step}/trainer_state.json").write_text(json.dumps({"global_step": step}))
    assert training.last_complete_checkpoint(folder).name == "checkpoint-50"
    assert "skipping incomplete checkpoint-96 (no optimizer.pt, scheduler.pt)" in capsys.readouterr().err


def test_loss_over_attempts_weights_each_step_once():
    history = [{"loss": 4.0, "step": 5}, {"loss": 2.0, "step": 10}, {"loss": 1.0, "step": 15}]
    # resumed at step 10: steps 1-10 averaged 3.0, this attempt's 10 steps 1.0 -> 2.0 over 20 steps
    assert training._loss_over_attempts(history, 10, 20, 1.0) == pytest.approx(2.0)


# --- pre-flight ---------------------------------------------------------------------------------------------------


def test_a_missing_hub_model_fails_in_seconds_naming_the_recipe_line(tmp_cwd, capsys):
    write_jsonl(tmp_cwd / "d.jsonl", [{"prompt": "a", "completion": "b"}] * 10)
    recipe = tmp_cwd / "r.yaml"
    recipe.write_text(
        "name: x\nstages:\n  - name: sft\n    kind: sft\n    model: no-org/no_such_model\n    data: d.jsonl\n"
    )
    start = time.time()
    assert main(["run", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert f"{recipe}:5: stages.sft.model: no-org/no_such_model: not in the local Hugging Face cache" in err
    assert time.time() - start < 30 and not (tmp_cwd / "runs/x/sft").exists()


def test_a_model_of_the_wrong_family_is_refused_before_training(tmp_cwd, capsys):
    bert = tmp_cwd / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertForMaskedLM"]}))
    write_jsonl(tmp_cwd / "d.jsonl", [{"prompt": "a", "completion": "b"}] * 10)
    recipe = write_recipe(
        tmp_cwd / "r.yaml",
        {"name": "x", "stages": [{"name": "sft", "kind": "sft", "model": "bert", "data": "d.jsonl"}]},
    )
    assert main(["run", str(recipe)]) == 2
    assert (
        "stages.sft.model: BertForMaskedLM is an encoder model; a sft stage's model must be a decoder model"
        in capsys.readouterr().err
    )


# --- reproducible tokenizers --------------------------------------------------------------------------------------


def test_tokenizers_are_byte_identical_across_processes(tmp_cwd):
    write_jsonl(
        tmp_cwd / "text.jsonl",
        [{"text": line} for line in (REPO / "hfpipeline/demo/corpus.jsonl").read_text().splitlines()[:400]],
    )
    stages = [
        {"name": kind, "kind": "tokenizer", "type": kind, "vocab_size": 400, "data": "text.jsonl"}
        for kind in ("bpe", "wordpiece", "unigram")
    ]
    recipe = write_recipe(tmp_cwd / "r.yaml", {"name": "t", "stages": stages})
    for seed in ("1", "2"):
        proc = cli("run", str(recipe), f"output_dir=runs/{seed}", env={"PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr.read()
    for kind in ("bpe", "wordpiece", "unigram"):
        assert (tmp_cwd / f"runs/1/{kind}/tokenizer.json").read_bytes() == (
            tmp_cwd / f"runs/2/{kind}/tokenizer.json"
        ).read_bytes(), kind


def test_preflight_reads_the_local_hub_cache_offline_and_asks_the_hub_online(tmp_cwd, monkeypatch):
    """Offline: a cached Hub model's config is read (here: an encoder, refused as a policy). Online: one metadata
    call; a repository the Hub does not know is named."""
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.errors import RepositoryNotFoundError

    from hfpipeline import preflight
    from hfpipeline.errors import RecipeErrors
    from hfpipeline.recipe import load_recipe

    snapshot = tmp_cwd / "cache/models--acme--tiny-bert/snapshots/abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    (tmp_cwd / "cache/models--acme--tiny-bert/refs").mkdir()
    (tmp_cwd / "cache/models--acme--tiny-bert/refs/main").write_text("abc")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_cwd / "cache"))
    write_jsonl(tmp_cwd / "d.jsonl", [{"prompt": "a", "completion": "b"}] * 10)
    recipe = load_recipe(
        {"name": "x", "stages": [{"name": "sft", "kind": "sft", "model": "acme/tiny-bert", "data": "d.jsonl"}]}
    )
    with pytest.raises(RecipeErrors, match="BertModel is an encoder model; a sft stage's model must be a decoder"):
        preflight.check(recipe, recipe.stages)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    calls = []

    def model_info(self, repo, revision=None, timeout=None):
        calls.append((repo, timeout))
        raise RepositoryNotFoundError.__new__(RepositoryNotFoundError)  # what a 404 raises (no HTTP response here)

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    with pytest.raises(RecipeErrors, match="acme/tiny-bert: no such model on the Hugging Face Hub"):
        preflight.check(recipe, recipe.stages)
    assert calls == [("acme/tiny-bert", preflight.TIMEOUT_S)]

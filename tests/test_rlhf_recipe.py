"""recipes/rlhf.yaml, cut down: the whole chain runs, and `accelerate launch -m hfpipeline run` (one process)
gives the same figures as `hfpipeline run` with the same seed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hfpipeline

pytestmark = pytest.mark.ppo
REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "recipes/rlhf.yaml"
CUT = {   # a few steps of every stage on a slice of each demo dataset
    "stages.tok.vocab_size": 600,
    "stages.pretrain.model.n_embd": 32,
    "stages.pretrain.data": {"path": "demo:corpus", "max_rows": 200},
    "stages.pretrain.train.max_steps": 4,
    "stages.sft.data": {"path": "demo:instructions", "max_rows": 100},
    "stages.sft.train.max_steps": 6,
    "stages.reward.data": {"path": "demo:preferences", "max_rows": 60},
    "stages.reward.train.max_steps": 4,
    "stages.ppo.data": {"path": "demo:preferences", "max_rows": 40},
    "stages.ppo.eval_prompts": {"path": "demo:prompts", "max_rows": 8},
    "stages.ppo.train.total_episodes": 32,
    "stages.ppo.train.response_length": 8,
}


def cli_overrides(out: Path) -> list[str]:
    return [f"output_dir={out}", "seed=7"] + [f"{k}={json.dumps(v)}" for k, v in CUT.items()]


@pytest.mark.slow
def test_shipped_recipe_runs_cut_down(tmp_path):
    manifest = hfpipeline.run(str(RECIPE), {**CUT, "output_dir": str(tmp_path / "run")})
    assert [s["status"] for s in manifest["stages"]] == ["done"] * 5
    assert [s["kind"] for s in manifest["stages"]] == ["tokenizer", "pretrain", "sft", "reward", "ppo"]
    metrics = json.loads((tmp_path / "run/ppo/metrics.json").read_text())
    assert metrics["eval_prompts"] == 8 and metrics["updates"] == 2
    assert {"mean_reward", "mean_reward_sft", "kl"} <= set(metrics)
    assert (tmp_path / "run/ppo/value_model/model.safetensors").is_file()


def final_metrics(run_dir: Path) -> dict:
    """The figures a run ends with: each stage's headline plus the PPO comparison."""
    manifest = json.loads((run_dir / "run.json").read_text())
    ppo = json.loads((run_dir / "ppo/metrics.json").read_text())
    return {**{s["name"]: s["headline"]["value"] for s in manifest["stages"]},
            **{k: ppo[k] for k in ("mean_reward_sft", "mean_reward", "kl", "train_scores_last", "train_kl_last")}}


@pytest.mark.slow
def test_accelerate_launch_gives_the_same_result(tmp_path):
    # accelerate launch sets OMP_NUM_THREADS (to 1 unless it is set): give both runs the same, or float sums differ
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ACCELERATE_DISABLE_RICH": "1", "OMP_NUM_THREADS": "1"}
    plain = subprocess.run([sys.executable, "-m", "hfpipeline", "run", str(RECIPE), *cli_overrides(tmp_path / "plain")],
                           env=env, capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr[-2000:]
    accelerate = Path(sys.executable).with_name("accelerate")
    launched = subprocess.run([str(accelerate), "launch", "--num_processes", "1", "--num_machines", "1",
                               "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "hfpipeline", "run",
                               str(RECIPE), *cli_overrides(tmp_path / "launched")],
                              env=env, capture_output=True, text=True)
    assert launched.returncode == 0, launched.stderr[-2000:]
    expected, got = final_metrics(tmp_path / "plain"), final_metrics(tmp_path / "launched")
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-4, abs=1e-5), key

"""Launch configs in recipes/accelerate/ read by accelerate's own parser and launcher, and `hfpipeline launch`:
the printed command, its checks, and one real 2-process launch on CPU."""

import json
import shlex
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, write_recipe

from hfpipeline.cli import build_parser, main

CONFIGS = sorted((REPO / "recipes/accelerate").glob("*.yaml"))
# config -> what accelerate must make of it: distributed type, processes per machine, machines
EXPECTED = {
    "single_gpu": ("NO", 1, 1),
    "ddp": ("MULTI_GPU", 8, 1),
    "fsdp": ("FSDP", 8, 1),
    "deepspeed_zero2": ("DEEPSPEED", 8, 1),
    "deepspeed_zero3": ("DEEPSPEED", 8, 1),
    "two_machines": ("MULTI_GPU", 8, 2),
}


def test_every_config_is_expected():
    assert sorted(p.stem for p in CONFIGS) == sorted(EXPECTED)


def accelerate_launch_args(config, monkeypatch):
    """What `accelerate launch --config_file CONFIG -m hfpipeline run r.yaml` resolves the config to."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import launch

    monkeypatch.setattr(launch, "is_port_in_use", lambda port: False)  # the port check is not what is tested
    parser = launch_command_parser()
    args = parser.parse_args(["--config_file", str(config), "-m", "hfpipeline", "run", "r.yaml"])
    args, defaults, _ = _validate_launch_command(args)
    return parser, args, defaults


@pytest.mark.parametrize("config", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_parses_with_accelerates_own_parser(config, monkeypatch):
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file

    parsed = load_config_from_file(str(config))
    assert isinstance(parsed, ClusterConfig)
    kind, per_machine, machines = EXPECTED[config.stem]
    assert (parsed.distributed_type.value, parsed.num_processes // parsed.num_machines, parsed.num_machines) == (
        kind,
        per_machine,
        machines,
    )
    assert parsed.mixed_precision == "no"  # precision is the recipe's business
    parser, args, _ = accelerate_launch_args(config, monkeypatch)
    known = {action.dest for action in parser._actions}
    raw = yaml.safe_load(config.read_text())
    for block in ("fsdp_config", "deepspeed_config"):  # accelerate ignores unknown keys here silently
        for key in raw.get(block, {}):
            assert key in known, f"{config.name}: {block}.{key} is not an accelerate launch option"
    assert args.module and args.training_script == "hfpipeline"


@pytest.mark.parametrize("name", ["ddp", "fsdp", "two_machines"])
def test_torchrun_layout_and_fsdp_plugin(name, monkeypatch):
    """The process layout accelerate's launcher builds; for FSDP, the plugin it configures wraps transformer layers."""
    from accelerate.utils import launch

    _, args, _ = accelerate_launch_args(REPO / f"recipes/accelerate/{name}.yaml", monkeypatch)
    env = launch.prepare_multi_gpu_env(args)
    assert args.nproc_per_node == "8"
    if name == "two_machines":
        assert (args.nnodes, args.node_rank, args.rdzv_endpoint) == ("2", 0, "10.0.0.1:29500")
    if name == "fsdp":
        from accelerate.utils import FullyShardedDataParallelPlugin
        from transformers import GPT2Config, GPT2LMHeadModel

        assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_VERSION"] == "2"
        for key, value in env.items():
            if key.startswith("FSDP_"):
                monkeypatch.setenv(key, value)
        plugin = FullyShardedDataParallelPlugin()
        plugin.set_auto_wrap_policy(
            GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=64, bos_token_id=0, eos_token_id=0))
        )
        assert plugin.transformer_cls_names_to_wrap == ["GPT2Block"]
        assert plugin.reshard_after_forward is True and plugin.state_dict_type.name == "FULL_STATE_DICT"


@pytest.mark.parametrize("name,stage", [("deepspeed_zero2", 2), ("deepspeed_zero3", 3)])
def test_deepspeed_plugin_from_config(name, stage, monkeypatch):
    """DeepSpeed's settings as accelerate hands them to the processes; batch sizes stay "auto" (the recipe's)."""
    from accelerate.utils import DeepSpeedPlugin, launch

    _, args, defaults = accelerate_launch_args(REPO / f"recipes/accelerate/{name}.yaml", monkeypatch)
    args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
    _, env = launch.prepare_deepspeed_cmd_env(args)
    for key, value in env.items():
        if key.startswith("ACCELERATE_"):
            monkeypatch.setenv(key, value)
    plugin = DeepSpeedPlugin()  # reads the environment, as in each launched process
    assert plugin.zero_stage == stage
    config = plugin.deepspeed_config
    assert config["gradient_accumulation_steps"] == "auto" and config["train_micro_batch_size_per_gpu"] == "auto"
    if stage == 3:
        assert config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


@pytest.fixture
def recipe(tmp_cwd):
    return write_recipe(
        tmp_cwd / "r.yaml",
        {
            "name": "launch",
            "output_dir": "runs/launch",
            "stages": [
                {
                    "name": "tok",
                    "kind": "tokenizer",
                    "type": "wordpiece",
                    "vocab_size": 200,
                    "data": {"path": "demo:reviews", "max_rows": 200},
                },
                {
                    "name": "cls",
                    "kind": "classify",
                    "tokenizer": "tok",
                    "data": {"path": "demo:reviews", "max_rows": 64},
                    "model": {
                        "from_config": "bert",
                        "num_hidden_layers": 2,
                        "hidden_size": 32,
                        "num_attention_heads": 2,
                        "intermediate_size": 64,
                    },
                    "train": {"per_device_train_batch_size": 4, "max_steps": 2, "logging_steps": 1},
                },
            ],
        },
    )


def test_dry_run_prints_the_exact_command(recipe, capsys):
    config = str(REPO / "recipes/accelerate/ddp.yaml")
    code = main(
        [
            "launch",
            str(recipe),
            "output_dir=runs/x",
            "--accelerate-config",
            config,
            "--num-processes",
            "4",
            "--only",
            "cls",
            "--overwrite",
            "--dry-run",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert out == (
        f"accelerate launch --config_file {shlex.quote(config)} --num_processes 4 "
        f"-m hfpipeline run {shlex.quote(str(recipe))} output_dir=runs/x --only cls --overwrite\n"
    )
    # accelerate's launcher reads it as: module hfpipeline, 4 processes, our arguments untouched
    from accelerate.commands.launch import launch_command_parser

    words = shlex.split(out)
    launched = launch_command_parser().parse_args(words[2:])
    assert (launched.module, launched.training_script, launched.num_processes) == (True, "hfpipeline", 4)
    ours = build_parser().parse_args(launched.training_script_args)
    assert (ours.command, ours.recipe, ours.overrides, ours.only, ours.overwrite) == (
        "run",
        str(recipe),
        ["output_dir=runs/x"],
        "cls",
        True,
    )


def test_dry_run_without_num_processes_leaves_it_to_the_config(recipe, capsys):
    config = str(REPO / "recipes/accelerate/single_gpu.yaml")
    assert main(["launch", str(recipe), "--accelerate-config", config, "--dry-run"]) == 0
    assert "--num_processes" not in capsys.readouterr().out


def test_missing_config_is_one_line_error(recipe, capsys):
    assert main(["launch", str(recipe), "--accelerate-config", "nowhere.yaml", "--dry-run"]) == 2
    assert capsys.readouterr().err.startswith("nowhere.yaml: no such accelerate config. Use one of recipes/accelerate/")


def test_bad_config_is_one_line_error(recipe, tmp_cwd, capsys):
    bad = tmp_cwd / "bad.yaml"
    bad.write_text("distributed_type: MULTI_GPU\nnum_processes: 2\nnum_gpus: 2\n")
    assert main(["launch", str(recipe), "--accelerate-config", str(bad), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{bad}: not a valid accelerate config (") and "num_gpus" in err and "\n" not in err


def test_bad_recipe_or_process_count_fails_before_launching(recipe, capsys):
    config = str(REPO / "recipes/accelerate/ddp.yaml")
    assert main(["launch", str(recipe), "stages.cls.train.max_stepz=2", "--accelerate-config", config]) == 2
    assert "max_stepz" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # argparse's range check
        main(["launch", str(recipe), "--accelerate-config", config, "--num-processes", "0"])
    assert exit_.value.code == 2 and "--num-processes: 0 is out of range: must be >= 1" in capsys.readouterr().err


@pytest.mark.slow
def test_launch_runs_two_processes_on_cpu(recipe, tmp_cwd):
    """`hfpipeline launch` with the DDP config runs a real 2-process job (gloo on CPU): one summary, one run dir."""
    config = str(REPO / "recipes/accelerate/ddp.yaml")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hfpipeline",
            "launch",
            str(recipe),
            "--accelerate-config",
            config,
            "--num-processes",
            "2",
        ],
        cwd=tmp_cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines()[0].startswith("accelerate launch --config_file ")
    tables = [line for line in out.stdout.splitlines() if line.split()[:3] == ["stage", "kind", "status"]]
    assert len(tables) == 1  # the summary, from the main process only
    assert out.stderr.count("[cls] run: ") == 1
    stages = {s["name"]: s for s in json.loads((tmp_cwd / "runs/launch/run.json").read_text())["stages"]}
    assert stages["cls"]["status"] == "done"
    assert stages["cls"]["distributed"] == {"processes": 2, "type": "MULTI_CPU", "backend": "gloo"}
    assert stages["cls"]["global_batch"] == 4 * 2
    assert (tmp_cwd / "runs/launch/cls/model.safetensors").is_file()
    assert not list((tmp_cwd / "runs/launch").rglob("*.tmp"))

"""`hfpipeline env`: what a bug report needs — Python and HF library versions, devices, accelerate's default config."""

import os
import platform

from hfpipeline import rundir


def env_command(args) -> int:
    """Print versions, devices and accelerate's default config, one `key: value` per line."""
    for name, version in rundir.versions().items():
        print(f"{name}: {version or 'not installed'}")
    print(f"platform: {platform.platform()}")
    for key, value in devices().items():
        print(f"{key}: {value}")
    print(f"accelerate default config: {accelerate_config() or 'none'}")
    return 0


def devices() -> dict:
    """CPU count and the CUDA devices torch sees (names), or that there are none."""
    import torch

    out = {"cpus": os.cpu_count()}
    if torch.cuda.is_available():
        out["cuda"] = torch.version.cuda
        for i in range(torch.cuda.device_count()):
            out[f"cuda:{i}"] = torch.cuda.get_device_name(i)
    else:
        out["cuda"] = "no CUDA device"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        out["mps"] = "available"
    return out


def accelerate_config() -> str | None:
    """The path and settings of accelerate's default config file (`accelerate config` writes it), if there is one."""
    from accelerate.commands.config import default_config_file

    if not os.path.isfile(default_config_file):
        return None
    from accelerate.commands.config.config_args import load_config_from_file

    try:
        config = load_config_from_file(default_config_file).to_dict()
    except Exception as e:  # a broken file is worth reporting, not a crash of `env`
        return f"{default_config_file} (unreadable: {e})"
    shown = {
        k: config[k] for k in ("distributed_type", "num_processes", "mixed_precision", "num_machines") if k in config
    }
    return f"{default_config_file} {shown}"

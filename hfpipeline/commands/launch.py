"""`hfpipeline launch`: run a recipe under `accelerate launch` with a launch config (see recipes/accelerate/),
printing the exact command first. The recipe and the config are checked once here, before any process starts."""

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from hfpipeline.errors import UserError

PACKAGE = Path(__file__).resolve().parent.parent


def launch_command(args) -> int:
    """Check the recipe and the accelerate config, print the `accelerate launch` command, then run it."""
    from hfpipeline.recipe import load_recipe

    load_recipe(args.recipe, args.overrides)  # a bad recipe fails here once, not in every launched process
    args.accelerate_config = preset(args.accelerate_config)
    config = read_config(args.accelerate_config)
    if args.num_processes is not None and args.num_processes < 1:
        raise UserError(f"--num-processes {args.num_processes}: must be 1 or more")
    if args.num_processes is None and config.num_processes < 1:
        raise UserError(
            f"{args.accelerate_config}: num_processes is {config.num_processes}. "
            "Set it in the file or pass --num-processes N"
        )
    command = build_command(args)
    print(shlex.join(command), flush=True)
    if args.dry_run:
        return 0
    return subprocess.call([accelerate_executable(), *command[1:]])


def build_command(args) -> list[str]:
    """`accelerate launch --config_file CFG [--num_processes N] -m hfpipeline run RECIPE [overrides] [flags]`."""
    command = ["accelerate", "launch", "--config_file", args.accelerate_config]
    if args.num_processes is not None:
        command += ["--num_processes", str(args.num_processes)]
    command += ["-m", "hfpipeline", "run", args.recipe, *args.overrides]
    if args.only:
        command += ["--only", args.only]
    if args.overwrite:
        command.append("--overwrite")
    return command


def shipped_recipes() -> Path:
    """The shipped recipes: the package's copy in a wheel (setup.py copies recipes/ there), else the checkout's."""
    inside = PACKAGE / "recipes"
    return inside if inside.is_dir() else PACKAGE.parent / "recipes"


def presets() -> list[str]:
    """Names of the shipped launch configs (recipes/accelerate/NAME.yaml)."""
    return sorted(p.stem for p in (shipped_recipes() / "accelerate").glob("*.yaml"))


def preset(value: str) -> str:
    """A launch config file as given, or the shipped one a bare name (ddp, fsdp, ...) stands for."""
    if Path(value).is_file() or "/" in value or value.endswith((".yaml", ".yml")):
        return value
    shipped = shipped_recipes() / "accelerate" / f"{value}.yaml"
    return str(shipped) if shipped.is_file() else value


def read_config(path: str):
    """The launch config as accelerate's own parser reads it (ClusterConfig); its errors as one-line UserErrors."""
    if not Path(path).is_file():
        raise UserError(
            f"{path}: no such accelerate config. Use one of recipes/accelerate/*.yaml or its name "
            f"({', '.join(presets())}), or write one with `accelerate config --config_file FILE`"
        )
    from accelerate.commands.config.config_args import load_config_from_file

    try:
        return load_config_from_file(path)
    except Exception as e:  # yaml errors, unknown keys, unknown distributed_type: accelerate raises several kinds
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(
            f"{path}: not a valid accelerate config ({first}). Compare it with recipes/accelerate/ddp.yaml"
        ) from None


def accelerate_executable() -> str:
    """The `accelerate` script of this Python environment (so the launched processes use the same packages)."""
    beside = Path(sys.executable).with_name("accelerate")
    found = str(beside) if beside.is_file() else shutil.which("accelerate")
    if found is None:
        raise UserError("accelerate: command not found in this environment. Install it: pip install accelerate")
    return found

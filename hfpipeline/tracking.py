"""Experiment trackers (`report_to:` tensorboard, trackio, wandb, ...): their logs go under the stage folder, STAGE_DIR/
logs, and a run is named after its stage in a project named after the recipe. transformers' callbacks take their
folders from environment variables, read when the Trainer is built, so they are set here, just before."""

import os
from pathlib import Path

LOGS = "logs"
# tracker -> the variable its transformers callback (or the library) reads its log folder from
FOLDER_VARIABLES = {"tensorboard": "TENSORBOARD_LOGGING_DIR", "wandb": "WANDB_DIR", "swanlab": "SWANLAB_LOG_DIR"}
# trackio keeps one database per project in TRACKIO_DIR, read once when trackio is imported: one folder per run
RUN_FOLDER_VARIABLES = {"trackio": "TRACKIO_DIR"}


def prepare(values: dict, stage, ctx) -> dict:
    """`values` of a training config with run_name/project defaults, after pointing the named trackers' folders
    under the stage folder (the run folder for trackio)."""
    named = values.get("report_to") or []
    named = [named] if isinstance(named, str) else list(named)
    everything = "all" in named
    for tracker, variable in FOLDER_VARIABLES.items():
        if everything or tracker in named:
            os.environ[variable] = str((Path(ctx.stage_dir) / LOGS).resolve())
    for tracker, variable in RUN_FOLDER_VARIABLES.items():
        if everything or tracker in named:
            os.environ.setdefault(variable, str((Path(ctx.run_dir) / LOGS).resolve()))
    return {"run_name": stage.name, "project": ctx.recipe.name, **values}  # the recipe's own names win

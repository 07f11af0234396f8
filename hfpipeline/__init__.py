"""hfpipeline: train language models on the Hugging Face stack from recipe files.

Public API: `run`, `load_recipe`, `finetune`. Heavy libraries load only when a stage runs.
"""

from hfpipeline.recipe import Recipe, load_recipe


def run(recipe, overrides=None, only: str | None = None, overwrite: bool = False) -> dict:
    """Run a recipe (path or dict) into its run directory; return the run manifest (run.json)."""
    from hfpipeline.pipeline import run_recipe

    return run_recipe(load_recipe(recipe, overrides), only=only, overwrite=overwrite)


def finetune(
    kind: str,
    *,
    model,
    data,
    output_dir: str,
    tokenizer=None,
    peft: dict | None = None,
    overwrite: bool = False,
    seed: int = 42,
    **train_args,
) -> dict:
    """Fine-tune `model` on `data` with one stage of `kind` (classify, sft, seq2seq, ...); return run.json.
    Keyword arguments that are options of the stage kind (e.g. max_length for classify) go to the stage;
    the rest are fields of its training config."""
    from hfpipeline.kinds import KINDS

    options = KINDS[kind].options if kind in KINDS else {}
    stage = {
        "name": kind,
        "kind": kind,
        "model": model,
        "data": data,
        "train": {k: v for k, v in train_args.items() if k not in options},
        **{k: v for k, v in train_args.items() if k in options},
    }
    if tokenizer is not None:
        stage["tokenizer"] = tokenizer
    if peft is not None:
        stage["peft"] = peft
    recipe = {"name": f"finetune-{kind}", "seed": seed, "output_dir": str(output_dir), "stages": [stage]}
    return run(recipe, overwrite=overwrite)


__all__ = ["Recipe", "finetune", "load_recipe", "run"]

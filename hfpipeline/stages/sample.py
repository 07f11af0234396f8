"""`sample` stage: the stage's model writes K responses to each prompt of its data into `<stage>/batch.jsonl`, a
labelling batch for `hfpipeline label` (human feedback: labelled batches train the reward model).
"""

import json
import sys

from hfpipeline import data, generation
from hfpipeline.errors import UserError
from hfpipeline.files import write_text_atomic

DEFAULTS = {"k": 4, "max_new_tokens": 64, "temperature": 1.0, "top_p": 1.0, "top_k": 0}  # as `hfpipeline sample`
BATCH_FILE = "batch.jsonl"


def run(stage, ctx) -> dict:
    # data
    prompts = load_prompts(stage, ctx)
    # model
    ref = stage.refs["model"]
    if "config" in ref:
        raise UserError(
            f"stage {stage.name}: model: is built from_config, an untrained model. "
            "Sample from a trained policy: an sft stage, a folder or a Hub id"
        )
    loaded = generation.load_for_generation(ctx.ref(ref))
    # sample
    options = {**DEFAULTS, **stage.options}
    k = options.pop("k")
    if k < 2:
        raise UserError(f"stage {stage.name}: k: {k}: a labelling batch needs at least 2 responses per prompt to rank")
    rows = generation.sample_responses(
        loaded.model,
        loaded.tokenizer,
        prompts,
        k,
        seed=ctx.recipe.seed,
        source=ctx.ref(ref),
        chat=loaded.chat,
        **options,
    )
    # save
    out = ctx.stage_dir / BATCH_FILE
    write_text_atomic(out, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    print(
        f"[{stage.name}] wrote {len(rows)} prompts x {k} responses to {out}. To label them, copy the batch out of "
        f"the run directory (reruns replace it) and run: hfpipeline label COPY.jsonl",
        file=sys.stderr,
    )
    return {"prompts": len(rows), "k": k, "distinct_fraction": distinct_fraction(rows, k)}


def load_prompts(stage, ctx) -> list[str]:
    """The prompts of the stage's data (train split; max_rows applies); every one must be non-empty text."""
    prompts = data.load_splits(stage.data, ctx.recipe.seed)["train"]["prompt"]
    bad = next((n for n, p in enumerate(prompts) if not isinstance(p, str) or not p.strip()), None)
    if bad is not None:
        raise UserError(
            f"stage {stage.name}: data {stage.data.get('path') or stage.data.get('hub')}: row {bad + 1}: "
            "'prompt' is missing or empty. Every row needs a prompt string"
        )
    return list(prompts)


def distinct_fraction(rows: list[dict], k: int) -> float:
    """Share of the K responses per prompt that are distinct (1.0: every prompt got K different responses)."""
    return round(sum(len(set(row["responses"])) for row in rows) / (k * len(rows)), 4) if rows else 0.0

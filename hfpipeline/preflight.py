"""Pre-flight: before the first stage trains, every model and tokenizer a stage loads that is not an earlier stage
is found (a local folder holding a config or tokenizer; a Hub id in the local cache when offline, on the Hub when
online) and its model family fits the stage, read from its config without loading weights. Seconds, not hours."""

import json
import os
from pathlib import Path

from hfpipeline.card import DECODER_TYPES
from hfpipeline.errors import RecipeErrors
from hfpipeline.kinds import CAUSAL_LM, CLASSIFIER, KINDS, MASKED_LM, SCORER, SEQ2SEQ, output_of

TIMEOUT_S = 10  # one Hub metadata call per reference, online
FAMILIES = {
    CAUSAL_LM: {"decoder"},
    MASKED_LM: {"encoder"},
    CLASSIFIER: {"encoder", "decoder"},
    SCORER: {"encoder", "decoder"},
    SEQ2SEQ: {"encoder-decoder"},
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
TRAINED = ("model", "policy")
ENCODER_TYPES = (
    "bert",
    "roberta",
    "distilbert",
    "electra",
    "deberta",
    "deberta-v2",
    "albert",
    "xlm-roberta",
    "modernbert",
    "camembert",
)  # the refs a stage trains: their model becomes the stage's product


def check(recipe, stages) -> None:
    """Raise RecipeErrors with one `file:line: stages.NAME.KEY: ...` line per reference that is missing or does not
    fit its stage."""
    lines = _ref_lines(recipe)
    problems = []
    for stage in stages:
        for key, ref in stage.each_ref():
            if not ref or "stage" in ref or "config" in ref:
                continue
            problem = _check_ref(stage, key, ref)
            if problem:
                where = f"{recipe.source}:{lines[(stage.name, key)]}" if (stage.name, key) in lines else recipe.source
                problems.append(f"{where}: stages.{stage.name}.{key}: {problem}")
    if problems:
        raise RecipeErrors(problems)
    _check_prompts(recipe, stages)


def _check_ref(stage, key: str, ref: dict) -> str | None:
    """What is wrong with one folder or Hub reference, or None."""
    wanted = TOKENIZER_FILES if key == "tokenizer" else ("config.json", "adapter_config.json")
    if "dir" in ref:
        folder = Path(ref["dir"])
        if not folder.is_dir():
            return f"{folder}: no such folder"
        if not any((folder / f).is_file() for f in wanted):
            return f"{folder}: holds no {' or '.join(wanted)}. Give a folder saved with save_pretrained"
        config = _read(folder / "config.json")
    else:
        found, config = _hub(ref["hub"], ref.get("revision"), wanted)
        if isinstance(found, str):
            return found
    return None if key == "tokenizer" else _family_problem(stage, key, config)


def _hub(repo: str, revision: str | None, wanted: tuple) -> tuple:
    """(problem or None, config dict or None) for a Hub id: the local cache offline, one metadata call online."""
    if _offline():
        from huggingface_hub import try_to_load_from_cache

        hits = [try_to_load_from_cache(repo, f, revision=revision) for f in wanted]
        path = next((h for h in hits if isinstance(h, str)), None)
        if path is None:
            return (
                f"{repo}: not in the local Hugging Face cache, and HF_HUB_OFFLINE=1. Download it first "
                f"(hf download {repo}) or unset HF_HUB_OFFLINE"
            ), None
        return None, _read(Path(path)) if path.endswith("config.json") and "adapter" not in path else None
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        info = HfApi().model_info(repo, revision=revision, timeout=TIMEOUT_S)
    except GatedRepoError:
        return None, None  # it exists; access is the loader's business
    except RepositoryNotFoundError:
        return f"{repo}: no such model on the Hugging Face Hub (or it is private: log in with hf auth login)", None
    except RevisionNotFoundError:
        return f"{repo}: no revision {revision!r} on the Hub", None
    except Exception:  # noqa: BLE001 - no network or a Hub hiccup: the loader will say more; do not block the run
        return None, None
    return None, getattr(info, "config", None)


def _family_problem(stage, key: str, config: dict | None) -> str | None:
    """A model whose family cannot be what the stage needs (BERT as a policy, T5 as a classifier, GPT-2 as seq2seq).
    Judged only when the config says so plainly."""
    family = _family(config or {})
    product = output_of(stage.kind, stage.options) if key in TRAINED and KINDS[stage.kind].config else None
    accepted = KINDS[stage.kind].refs.get(key, ())
    allowed = FAMILIES.get(product) or set().union(*(FAMILIES.get(p, set()) for p in accepted))
    if family is None or not allowed or family in allowed:
        return None
    arch = ((config or {}).get("architectures") or [(config or {}).get("model_type")])[0]
    return (
        f"{arch} is {_a(family)} model; a {stage.kind} stage's {key} must be "
        f"{' or '.join(_a(f) for f in sorted(allowed))} model"
    )


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def _family(config: dict) -> str | None:
    """encoder, decoder or encoder-decoder when the config says so plainly; None when unsure."""
    archs = " ".join(config.get("architectures") or [])
    if config.get("is_encoder_decoder"):
        return "encoder-decoder"
    if "CausalLM" in archs or "LMHead" in archs or config.get("model_type") in DECODER_TYPES:
        return "decoder"
    if "MaskedLM" in archs or config.get("model_type") in ENCODER_TYPES:
        return "encoder"
    return None


def _ref_lines(recipe) -> dict:
    """(stage name, ref key) -> line of the recipe file, for messages."""
    if not Path(recipe.source).is_file():
        return {}
    from hfpipeline.recipe import _read_yaml

    _, lines, _ = _read_yaml(Path(recipe.source))
    names = [s.get("name") if isinstance(s, dict) else None for s in recipe.raw.get("stages") or []]
    return {
        (name, path[2]): line
        for path, line in lines.items()
        if len(path) == 3 and path[0] == "stages" and isinstance(path[1], int) and path[1] < len(names)
        for name in [names[path[1]]]
    }


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _check_prompts(recipe, stages) -> None:
    """RL stages with long_rows: error whose policy is already on disk (a folder, a Hub model, a finished stage):
    prompts that leave no room for the answer are refused now, with their row, not when the stage starts."""
    from hfpipeline import card, models
    from hfpipeline.pipeline import Context
    from hfpipeline.stages import ppo, rl_shared, shared

    run_dir = Path(recipe.output_dir)
    for stage in stages:
        if stage.kind not in ("ppo", "rloo", "grpo") or stage.options.get("long_rows") != "error":
            continue
        ctx = Context(recipe=recipe, run_dir=run_dir, stage_dir=run_dir / stage.name)
        policy = ctx.ref(stage.refs["policy"])
        if "stage" in stage.refs["policy"] and not (Path(policy) / card.FILE).is_file():
            continue  # trained by this run: the stage checks its prompts when it starts
        key = "response_length" if stage.kind == "ppo" else "max_completion_length"
        defaults = ppo.DEFAULTS if stage.kind == "ppo" else rl_shared.DEFAULTS
        response = {**defaults, **recipe.train_for(stage)}[key]
        info, tokenizer = card.of_folder(policy), models.load_tokenizer(policy)
        prompts = shared.load_prompts(stage, ctx)
        rendered, chat = shared.as_policy_saw_them(prompts, tokenizer, info)
        shared.fit_prompts(stage, prompts, rendered, tokenizer, chat, info.get("context_window"), response, key)

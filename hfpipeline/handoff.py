"""Stage hand-off checks: which stage kinds a ref may name (at recipe validation), and whether the models a stage
loads fit together (tokenizer, chat template, head shape, context window) before any weights load or training starts."""

import re

from hfpipeline import card
from hfpipeline.errors import UserError
from hfpipeline.kinds import CAUSAL_LM, KINDS, MASKED_LM, SCORER, TOKENIZER, Kind, output_of, producing

PROMPTS = Kind(runner="", config=None, produces="", fields={"prompt_field": "prompt"}, columns=(("prompt",),))
TRL_3595 = "PPO feeds the policy's token ids straight into the reward model (TRL #3595)"
RL_KINDS = ("ppo", "rloo", "grpo")  # tune a policy against a reward on sampled answers
PPO_LAST_TRL = (1, 13)  # the first TRL without PPOTrainer (huggingface/trl#7020)
FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


# --- recipe validation (no torch) --------------------------------------------------------------------------------


def check_stage_refs(stages: list, add) -> None:
    """Report refs naming the wrong kind of stage, RL stages without prompts or rewards, a ppo stage on a TRL without
    PPO; normalise eval_prompts blocks."""
    by_name = {s.name: s for s in stages if s is not None}
    for i, stage in enumerate(stages):
        if stage is None:
            continue
        at = ("stages", i)
        for key, ref in stage.each_ref():
            source = by_name.get((ref or {}).get("stage"))
            if source is not None and (problem := _ref_problem(stage, key, source)):
                add(at + (key,), problem)
            if stage.kind in RL_KINDS and ref and "config" in ref:
                add(
                    at + (key,),
                    f"a {stage.kind} stage tunes trained models: name an earlier stage, a folder or a "
                    "Hub id, not from_config",
                )
        if stage.kind in RL_KINDS and stage.data is None:
            add(
                at + ("data",),
                f"missing. A {stage.kind} stage needs data: with a prompt column (the prompts it "
                "learns on), e.g. data: demo:prompts",
            )
        if stage.kind == "ppo" and (problem := ppo_unavailable()):
            add(at + ("kind",), problem)
        if stage.kind in ("rloo", "grpo"):
            _check_rewards(stage, at, add)
        if "eval_prompts" in stage.options:
            from hfpipeline import data_refs

            stage.options["eval_prompts"] = data_refs.check_block(
                stage.options["eval_prompts"], PROMPTS, at + ("eval_prompts",), add
            )


def ppo_unavailable() -> str | None:
    """Why a ppo stage cannot run with the installed TRL (its PPOTrainer is gone from TRL 1.13 on), or None. Reads
    the version from package metadata: no TRL import."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("trl")
    except PackageNotFoundError:
        return None  # no TRL at all: every trainer stage says so when it runs
    if tuple(int(p) for p in re.findall(r"\d+", installed)[:2]) < PPO_LAST_TRL:
        return None
    return (
        f"the ppo stage needs TRL < 1.13 (TRL {installed} is installed; TRL 1.13 removed PPOTrainer): "
        "pip install 'hfpipeline[ppo]', or use kind: rloo (no value model, same policy:/reward_model:)"
    )


def _check_rewards(stage, at: tuple, add) -> None:
    """An rloo/grpo stage scores answers with reward_model: (one or a list) and/or reward_funcs: ("module:function")."""
    funcs = stage.options.get("reward_funcs") or []
    if "reward_model" not in stage.refs and not funcs:
        add(
            at + ("reward_model",),
            f"missing. A {stage.kind} stage needs reward_model: (a reward stage, a folder, or "
            "a list of them) or reward_funcs: (Python functions, module:function)",
        )
    for n, func in enumerate(funcs):
        if not isinstance(func, str) or not FUNCTION.match(func):
            add(
                at + ("reward_funcs", n),
                f"{func!r} is not module:function (a Python function importable from the "
                "working directory, e.g. my_rewards:length_penalty)",
            )


def _ref_problem(stage, key: str, source) -> str | None:
    """Why `source` cannot serve as `stage`'s `key` (the kinds registry says what each ref accepts), or None."""
    accepted = KINDS[stage.kind].refs[key]
    product = output_of(source.kind, source.options)
    if product in accepted:
        return None
    if TOKENIZER in accepted:
        return (
            f"stage {source.name!r} is a {source.kind} stage and saves no tokenizer. Name a tokenizer stage, "
            "a model stage or a folder"
        )
    if product == MASKED_LM and CAUSAL_LM in accepted:
        return (
            f"stage {source.name!r} pretrains a masked LM (objective: mlm); a {stage.kind} stage's {key}: needs a "
            "causal LM (objective: clm)"
        )
    want = " or ".join(kind for p in accepted for kind in producing(p))
    why = (
        " (a model with a one-output score head), or a reward model folder"
        if accepted == (SCORER,)
        else ", or a model folder"
    )
    return f"stage {source.name!r} is a {source.kind} stage; a {stage.kind} stage's {key}: must be a {want} stage{why}"


def origin(ref: dict) -> str:
    """How a ref reads in a message: stage 'sft', folder x, Hub model y."""
    if "stage" in ref:
        return f"stage {ref['stage']!r}"
    return f"folder {ref['dir']}" if "dir" in ref else f"Hub model {ref.get('hub')}"


# --- stage checks (before loading weights) ------------------------------------------------------------------------


def check_ppo(stage, ctx) -> dict:
    """Policy, reward and value model fit together; return their descriptions keyed policy/reward_model/value_model."""
    value_key = "value_model" if "value_model" in stage.refs else "reward_model"
    infos = {key: card.of_folder(ctx.ref(stage.refs[key])) for key in ("policy", "reward_model", value_key)}
    policy = infos["policy"]
    _check_policy(stage, policy)
    for key in dict.fromkeys(("reward_model", value_key)):
        info, where = infos[key], origin(stage.refs[key])
        label = key.replace("_", " ")
        _check_scorer(stage, key, info, where)
        if info["tokenizer_fingerprint"] != policy["tokenizer_fingerprint"]:
            raise UserError(
                f"stage {stage.name}: {label} and policy tokenizers differ: {key} {where} fingerprint "
                f"{info['tokenizer_fingerprint']}, policy {origin(stage.refs['policy'])} fingerprint "
                f"{policy['tokenizer_fingerprint']}; {TRL_3595}, so train the {label} from the policy's "
                "tokenizer (or use kind: rloo, which re-tokenizes for the reward model)"
            )
        if info.get("chat_template_sha") != policy.get("chat_template_sha"):
            raise UserError(
                f"stage {stage.name}: {label} and policy chat templates differ: {key} {where} template "
                f"{info.get('chat_template_sha')}, policy {origin(stage.refs['policy'])} template "
                f"{policy.get('chat_template_sha')}; the {label} would score text laid out differently "
                "from what the policy writes. Train it from the policy's (sft) output"
            )
    return infos


def check_rl(stage, ctx) -> tuple[dict, list[dict]]:
    """An rloo/grpo stage's policy is a causal LM and each reward model a one-output scorer; return the policy's
    description and the reward models'. A reward model may have its own tokenizer and chat template: TRL decodes
    the answers and re-tokenizes them for it."""
    policy = card.of_folder(ctx.ref(stage.refs["policy"]))
    _check_policy(stage, policy)
    rewards = [ref for key, ref in stage.each_ref() if key == "reward_model"]
    infos = [card.of_folder(ctx.ref(ref)) for ref in rewards]
    for ref, info in zip(rewards, infos):
        _check_scorer(stage, "reward_model", info, origin(ref))
    return policy, infos


def _check_policy(stage, info: dict) -> None:
    if not card.is_causal_lm(info):
        raise UserError(
            f"stage {stage.name}: policy: {origin(stage.refs['policy'])} is not a causal LM "
            f"({', '.join(info.get('architectures') or ['unknown'])}). Use the sft stage's output"
        )


def _check_scorer(stage, key: str, info: dict, where: str) -> None:
    if not card.is_scorer(info):
        head = (info.get("head") or {}).get("shape") or info.get("num_labels")
        raise UserError(
            f"stage {stage.name}: {key}: {where} is not a reward model (one-output score head): "
            f"{', '.join(info.get('architectures') or ['unknown'])}, head {head}. "
            "Train one with a reward stage"
        )


def check_model_tokenizer(stage, ctx, tokenizer, key: str = "model") -> None:
    """A separate tokenizer: ref must tokenize like the one the stage's model was trained with."""
    ref = stage.refs.get(key)
    if "tokenizer" not in stage.refs or ref is None or "config" in ref:
        return
    info = card.read(ctx.ref(ref))
    mine = card.tokenizer_fingerprint(tokenizer)
    if info and info.get("tokenizer_fingerprint") not in (None, mine):
        raise UserError(
            f"stage {stage.name}: tokenizer: {origin(stage.refs['tokenizer'])} (fingerprint {mine}) is "
            f"not the tokenizer {key}: {origin(ref)} was trained with (fingerprint "
            f"{info['tokenizer_fingerprint']}). Drop tokenizer: to use the model's own"
        )


def check_preference_rows(dataset, source: str) -> None:
    """Every row holds prompt?/chosen/rejected (text or messages) or prompt/responses/ranking; name the first bad
    row."""
    columns = set(dataset.column_names)
    need = ("prompt", "responses", "ranking") if "responses" in columns else ("chosen", "rejected")
    for n, row in enumerate(dataset):
        for column in need + (("prompt",) if "prompt" in columns else ()):
            value = row.get(column)  # text, or a list of {role, content} messages (conversational data)
            if not value or not isinstance(value, list if column in ("responses", "ranking") else (str, list)):
                raise UserError(
                    f"{source}: row {n + 1}: {column!r} is missing or empty ({value!r:.40}). "
                    f"Each preference row needs {', '.join(need)}"
                )


def preference_check(stage):
    """check(split, dataset) for data.load_splits: every preference row of the stage's data is complete."""
    source = stage.data.get("path") or stage.data.get("hub")
    return lambda split, ds: check_preference_rows(ds, f"stage {stage.name}: data {source} ({split} split)")

"""Stage hand-off checks: which stage kinds a ref may name (at recipe validation), and whether the models a stage
loads fit together (tokenizer, chat template, head shape, context window) before any weights load or training starts."""

from hfpipeline import card
from hfpipeline.errors import UserError
from hfpipeline.kinds import CAUSAL_LM, KINDS, MASKED_LM, SCORER, TOKENIZER, Kind, output_of, producing

PROMPTS = Kind(runner="", config=None, produces="", fields={"prompt_field": "prompt"}, columns=(("prompt",),))
TRL_3595 = "PPO feeds the policy's token ids straight into the reward model (TRL #3595)"


# --- recipe validation (no torch) --------------------------------------------------------------------------------


def check_stage_refs(stages: list, add) -> None:
    """Report refs naming the wrong kind of stage, a ppo stage without prompts; normalise eval_prompts blocks."""
    by_name = {s.name: s for s in stages if s is not None}
    for i, stage in enumerate(stages):
        if stage is None:
            continue
        at = ("stages", i)
        for key, ref in stage.refs.items():
            source = by_name.get((ref or {}).get("stage"))
            if source is not None and (problem := _ref_problem(stage, key, source)):
                add(at + (key,), problem)
            if stage.kind == "ppo" and ref and "config" in ref:
                add(at + (key,), "a ppo stage tunes trained models: name an earlier stage, a folder or a Hub id, "
                                 "not from_config")
        if stage.kind == "ppo" and stage.data is None:
            add(at + ("data",), "missing. A ppo stage needs data: with a prompt column (the prompts it learns on), "
                                "e.g. data: demo:prompts")
        if "eval_prompts" in stage.options:
            from hfpipeline import data_refs

            stage.options["eval_prompts"] = data_refs.check_block(stage.options["eval_prompts"], PROMPTS,
                                                                  at + ("eval_prompts",), add)


def _ref_problem(stage, key: str, source) -> str | None:
    """Why `source` cannot serve as `stage`'s `key` (the kinds registry says what each ref accepts), or None."""
    accepted = KINDS[stage.kind].refs[key]
    product = output_of(source.kind, source.options)
    if product in accepted:
        return None
    if TOKENIZER in accepted:
        return (f"stage {source.name!r} is a {source.kind} stage and saves no tokenizer. Name a tokenizer stage, "
                "a model stage or a folder")
    if product == MASKED_LM and CAUSAL_LM in accepted:
        return (f"stage {source.name!r} pretrains a masked LM (objective: mlm); a {stage.kind} stage's {key}: needs a "
                "causal LM (objective: clm)")
    want = " or ".join(kind for p in accepted for kind in producing(p))
    why = " (a model with a one-output score head), or a reward model folder" if accepted == (SCORER,) \
        else ", or a model folder"
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
    if not card.is_causal_lm(policy):
        raise UserError(f"stage {stage.name}: policy: {origin(stage.refs['policy'])} is not a causal LM "
                        f"({', '.join(policy.get('architectures') or ['unknown'])}). Use the sft stage's output")
    for key in dict.fromkeys(("reward_model", value_key)):
        info, where = infos[key], origin(stage.refs[key])
        label = key.replace("_", " ")
        if not card.is_scorer(info):
            head = (info.get("head") or {}).get("shape") or info.get("num_labels")
            raise UserError(f"stage {stage.name}: {key}: {where} is not a reward model (one-output score head): "
                            f"{', '.join(info.get('architectures') or ['unknown'])}, head {head}. "
                            "Train one with a reward stage")
        if info["tokenizer_fingerprint"] != policy["tokenizer_fingerprint"]:
            raise UserError(f"stage {stage.name}: {label} and policy tokenizers differ: {key} {where} fingerprint "
                            f"{info['tokenizer_fingerprint']}, policy {origin(stage.refs['policy'])} fingerprint "
                            f"{policy['tokenizer_fingerprint']}; {TRL_3595}, so train the {label} from the policy's "
                            "tokenizer")
        if info.get("chat_template_sha") != policy.get("chat_template_sha"):
            raise UserError(f"stage {stage.name}: {label} and policy chat templates differ: {key} {where} template "
                            f"{info.get('chat_template_sha')}, policy {origin(stage.refs['policy'])} template "
                            f"{policy.get('chat_template_sha')}; the {label} would score text laid out differently "
                            "from what the policy writes. Train it from the policy's (sft) output")
    return infos


def check_model_tokenizer(stage, ctx, tokenizer, key: str = "model") -> None:
    """A separate tokenizer: ref must tokenize like the one the stage's model was trained with."""
    ref = stage.refs.get(key)
    if "tokenizer" not in stage.refs or ref is None or "config" in ref:
        return
    info = card.read(ctx.ref(ref))
    mine = card.tokenizer_fingerprint(tokenizer)
    if info and info.get("tokenizer_fingerprint") not in (None, mine):
        raise UserError(f"stage {stage.name}: tokenizer: {origin(stage.refs['tokenizer'])} (fingerprint {mine}) is "
                        f"not the tokenizer {key}: {origin(ref)} was trained with (fingerprint "
                        f"{info['tokenizer_fingerprint']}). Drop tokenizer: to use the model's own")


def check_prompt_lengths(stage, lengths: list[int], window: int | None, response_length: int, source: str) -> None:
    """Prompt plus response must fit the context window; say so before training if the longest does not."""
    if not window or not lengths:
        return
    longest = max(lengths)
    if longest + response_length > window:
        n = sum(1 for n in lengths if n + response_length > window)
        raise UserError(f"stage {stage.name}: {source}: prompts longer than the context window: {n} prompt(s) up to "
                        f"{longest} tokens + response_length {response_length} > {window} tokens. Shorten or drop "
                        "them, or lower train.response_length")


def check_preference_rows(dataset, source: str) -> None:
    """Every row holds prompt?/chosen/rejected (text or messages) or prompt/responses/ranking; name the first bad
    row."""
    columns = set(dataset.column_names)
    need = ("prompt", "responses", "ranking") if "responses" in columns else ("chosen", "rejected")
    for n, row in enumerate(dataset):
        for column in need + (("prompt",) if "prompt" in columns else ()):
            value = row.get(column)   # text, or a list of {role, content} messages (conversational data)
            if not value or not isinstance(value, list if column in ("responses", "ranking") else (str, list)):
                raise UserError(f"{source}: row {n + 1}: {column!r} is missing or empty ({value!r:.40}). "
                                f"Each preference row needs {', '.join(need)}")


def preference_check(stage):
    """check(split, dataset) for data.load_splits: every preference row of the stage's data is complete."""
    source = stage.data.get("path") or stage.data.get("hub")
    return lambda split, ds: check_preference_rows(ds, f"stage {stage.name}: data {source} ({split} split)")

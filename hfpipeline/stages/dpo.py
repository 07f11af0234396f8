"""`dpo` stage: direct preference optimisation of a causal LM with TRL's DPOTrainer on prompt/chosen/rejected pairs,
pairs with an implicit shared prompt, or ranked responses expanded to pairs. Headline: the implicit reward margin.
"""

import copy

from hfpipeline import card, data, feedback, generation, handoff, lengths, models, policy_eval, training
from hfpipeline.errors import UserError
from hfpipeline.stages import shared

PAIR_COLUMNS = ("prompt", "chosen", "rejected")
# TRL's eval metrics -> our names: the implicit reward beta*log(pi/ref) of chosen minus rejected, and how often > 0
MARGINS = {
    "eval_rewards/margins": "reward_margin",
    "eval_rewards/accuracies": "reward_accuracy",
    "eval_loss": "eval_loss",
}


def run(stage, ctx) -> dict:
    trainer, evaluating, conversational, figures = build_trainer(stage, ctx)
    # train, with the validation figures before and after
    metrics = {**figures, **shared.train_before_after(trainer, ctx, evaluating, margins)}
    # save
    if "ref" in getattr(trainer.model, "peft_config", {}):
        trainer.model.delete_adapter("ref")  # TRL's frozen copy of the adapters, the LoRA reference
    chat = prompt_format(stage, ctx, conversational) == "chat"
    training.finish(trainer, trainer.processing_class, ctx, prompt_format="chat" if chat else "text")
    if stage.options.get("eval_prompts") and "config" not in stage.refs["model"]:
        metrics.update(compare(stage, ctx, trainer.processing_class, chat))
    return metrics


def build_trainer(stage, ctx):
    """The stage's DPOTrainer, whether it has a validation split, and whether the data is conversational."""
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    # data
    splits = load_data(stage, ctx)
    conversational = shared.is_conversational(splits["train"])
    # model
    tokenizer = shared.chat_tokenizer(stage, ctx, conversational)
    policy = models.build_model(AutoModelForCausalLM, stage.refs["model"], ctx, tokenizer)
    reference = build_reference(stage, ctx, tokenizer, policy)
    policy = shared.add_lora(policy, stage, ctx)
    # trainer: max_length counts prompt + response tokens
    args = training.build_args(
        DPOConfig, stage, ctx, max_length=shared.max_length(policy), eval_on_start="validation" in splits
    )
    splits, figures = fit_pairs(stage, splits, tokenizer, conversational, args.max_length)
    trainer = DPOTrainer(
        model=policy,
        ref_model=reference,
        args=args,
        processing_class=tokenizer,
        train_dataset=splits["train"],
        eval_dataset=splits.get("validation"),
    )
    return trainer, "validation" in splits, conversational, figures


def fit_pairs(stage, splits: dict, tokenizer, conversational: bool, limit: int) -> tuple[dict, dict]:
    """The long_rows policy on pairs whose prompt + longer response pass max_length (DPOTrainer cuts them in its
    collator); with truncate, pairs whose prompt alone fills max_length (no response left to compare) are dropped.
    Returns the splits and their counts."""
    policy = stage.options.get("long_rows", "truncate")
    figures = {}
    for name, split in splits.items():
        measured = pair_lengths(split, tokenizer, conversational)
        fitted, over = lengths.apply_policy(stage, name, split, [p + r for p, r in measured], limit, policy)
        if policy == "truncate":
            fitted = fitted.select([i for i, (p, _) in enumerate(measured) if p < limit])
        kept = sum(min(max(limit - p, 0), r) for p, r in measured)
        figures.update(
            lengths.counts(stage, name, len(split), len(fitted), over, policy, limit, sum(r for _, r in measured), kept)
        )
        splits[name] = fitted
    return splits, figures


def pair_lengths(split, tokenizer, conversational: bool) -> list[tuple[int, int]]:
    """(prompt tokens, tokens of the longer response + eos) per pair, as DPOTrainer lays them out."""

    def count(texts):
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]]

    rows = split.to_list()
    if conversational:

        def render(messages, prompt_only=False):
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt_only)

        prompts = [render(r.get("prompt") or [], True) if r.get("prompt") else "" for r in rows]
        full = [[render((r.get("prompt") or []) + r[side]) for r in rows] for side in ("chosen", "rejected")]
        base = count(prompts)
        return [(p, max(c - p, r - p)) for p, c, r in zip(base, count(full[0]), count(full[1]))]
    prompts = [r.get("prompt") or "" for r in rows]
    chosen, rejected = count([r["chosen"] for r in rows]), count([r["rejected"] for r in rows])
    return [(p, max(c, r) + 1) for p, c, r in zip(count(prompts), chosen, rejected)]


def load_data(stage, ctx):
    """Preference pairs per split; ranked rows become pairs after the validation split is held out (no leaks)."""
    splits = data.load_stage_data(
        stage, ctx.recipe.seed, evaluate=shared.wants_eval(stage, ctx), check=handoff.preference_check(stage)
    )
    out = {}
    for name, split in splits.items():
        if name == "test":
            continue
        if "responses" in split.column_names:
            split = feedback.pairs_dataset(split, stage.options.get("demote_tags", ()))
        if len(split) == 0:
            raise UserError(
                f"stage {stage.name}: the {name} split has no preference pairs. "
                "Ranked rows need at least 2 responses each"
            )
        out[name] = split.select_columns([c for c in PAIR_COLUMNS if c in split.column_names])
    return out


def build_reference(stage, ctx, tokenizer, policy):
    """The frozen reference: ref_model: if given; none with LoRA (TRL uses the adapters' starting point);
    else a second copy of the policy (TRL's own fallback reloads from config._name_or_path, empty in memory)."""
    from transformers import AutoModelForCausalLM

    if "ref_model" in stage.refs:
        return models.build_model(AutoModelForCausalLM, stage.refs["ref_model"], ctx, tokenizer)
    if stage.peft:
        return None
    if "config" in stage.refs["model"]:
        return copy.deepcopy(policy)
    return models.build_model(AutoModelForCausalLM, stage.refs["model"], ctx, tokenizer)


def prompt_format(stage, ctx, conversational: bool) -> str:
    """ "chat" when the data is conversational or the policy was tuned on chat-formatted prompts, else "text"."""
    ref = stage.refs["model"]
    inherited = None if "config" in ref else card.read(ctx.ref(ref)).get("prompt_format")
    return "chat" if conversational or inherited == "chat" else "text"


def compare(stage, ctx, tokenizer, chat: bool) -> dict:
    """Responses of the policy before and after DPO on the eval_prompts: block, and their KL (policy_eval)."""
    prompts = list(data.load_splits(stage.options["eval_prompts"], ctx.recipe.seed)["train"]["prompt"])
    before, after = ctx.ref(stage.refs["model"]), str(ctx.stage_dir)
    if not chat:
        return policy_eval.compare_policies(before, after, None, prompts, ctx)
    prompts = [generation.format_prompt(tokenizer, p, chat=True) for p in prompts]  # as the policy was tuned
    return policy_eval.compare_policies(before, after, None, prompts, ctx, add_special_tokens=False)


def margins(metrics: dict, when: str = "") -> dict:
    """Implicit reward margin and accuracy (chosen > rejected) on the validation split, plus the DPO loss."""
    found = {ours: metrics[theirs] for theirs, ours in MARGINS.items() if theirs in metrics}
    return {f"{k}_{when}": v for k, v in found.items()} if when else found

"""What the causal-LM stages share: evaluation on/off, the conversational format and chat template, the default
max_length, LoRA adapters that reload from the stage folder (sft, dpo, rloo, grpo); the prompts of the RL stages and
how the policy saw them (ppo, rloo, grpo)."""

from pathlib import Path

from hfpipeline import card, data, handoff, lengths, models, training
from hfpipeline.errors import UserError

# Used when the data is conversational and the tokenizer has none. It renders the same "User: ...\nAssistant: ..."
# text as the demo prompt/completion data; {% generation %} marks what assistant_only_loss trains on.
DEFAULT_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ 'Assistant:' }}{% generation %}{{ ' ' + message['content'] + eos_token }}{% endgeneration %}{{ '\n' }}"
    "{%- else -%}"
    "{{ message['role'] | capitalize + ': ' + message['content'] + '\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'Assistant:' }}{%- endif -%}"
)
MAX_LENGTH = 256  # default max_length (capped at the context window): TRL's 1024 is far past what tiny
# demo models see; raise it for real checkpoints


def wants_eval(stage, ctx) -> bool:
    """Evaluate unless the recipe turns evaluation off (eval_strategy: no)."""
    return ctx.recipe.train_for(stage).get("eval_strategy") != "no"


def is_conversational(dataset) -> bool:
    """Rows are lists of {role, content} messages (TRL's conversational format)."""
    from trl.data_utils import is_conversational as trl_is_conversational

    return trl_is_conversational(dataset[0])


def set_chat_template(tokenizer, template: str | None, conversational: bool) -> None:
    """The recipe's chat_template, else ours when conversational data meets a tokenizer without one."""
    if template:
        tokenizer.chat_template = template
    elif conversational and not tokenizer.chat_template:
        tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE


def train_before_after(trainer, ctx, evaluating: bool, pick) -> dict:
    """Train; with a validation split, `pick(metrics, "before")` of the evaluation eval_on_start ran before the
    first step and `pick(metrics)` of one after the last (both inside the DDP-wrapped run)."""
    metrics = training.train(trainer, ctx)
    if evaluating:
        metrics.update(pick(training.first_eval(trainer), "before"))
        metrics.update(pick(trainer.evaluate()))
    return metrics


def chat_tokenizer(stage, ctx, conversational: bool, template: str | None = None):
    """The stage's tokenizer, checked against its model's, with the chat template the data needs."""
    tokenizer = models.stage_tokenizer(stage, ctx)
    handoff.check_model_tokenizer(stage, ctx, tokenizer)
    set_chat_template(tokenizer, template, conversational)
    return tokenizer


def max_length(model) -> int:
    """The default max_length: MAX_LENGTH, or the model's context window when that is shorter."""
    return min(MAX_LENGTH, card.context_window(model.config) or MAX_LENGTH)


def add_lora(model, stage, ctx):
    """LoRA adapters whose saved config points at the folder the base came from (so the output reloads)."""
    if not stage.peft:
        return model
    ref = stage.refs.get("model") or stage.refs.get("policy")
    if "config" in ref:
        raise UserError(
            f"stage {stage.name}: peft: trains adapters on a pretrained model, but model: is built "
            "from_config. Train it fully, or point model: at an earlier stage or a folder"
        )
    model = models.add_lora(model, stage.peft, "CAUSAL_LM")
    path = ctx.ref(ref)
    # the merged base of a LoRA folder names its own base, not that folder: point at what we loaded
    model.peft_config["default"].base_model_name_or_path = str(Path(path).resolve()) if Path(path).is_dir() else path
    return model


def load_prompts(stage, ctx, keep_columns: bool = False):
    """{train, eval} prompt datasets of an RL stage (ppo, rloo, grpo): eval from the eval_prompts: block, else held
    out of the stage's data. Only the prompt column, unless `keep_columns` (reward functions may read the others)."""
    from datasets import DatasetDict

    given = stage.options.get("eval_prompts")
    splits = data.load_stage_data(stage, ctx.recipe.seed, evaluate=not given)
    held_out = data.load_splits(given, ctx.recipe.seed)["train"] if given else splits["validation"]
    for name, ds in (("data", splits["train"]), ("eval_prompts", held_out)):
        bad = next((n for n, p in enumerate(ds["prompt"]) if not p or not isinstance(p, (str, list))), None)
        if bad is not None:
            raise UserError(
                f"stage {stage.name}: {name}: row {bad + 1}: 'prompt' is missing or empty. "
                "Every row needs a prompt: a string, or a list of {role, content} messages"
            )
    return DatasetDict(
        {
            "train": splits["train"] if keep_columns else splits["train"].select_columns(["prompt"]),
            "eval": held_out.select_columns(["prompt"]),
        }
    )


def as_policy_saw_them(prompts, tokenizer, policy_info: dict):
    """Prompts as text the way the policy saw them in SFT, and whether its chat template rendered them: messages
    (conversational prompts) and, for a chat-tuned policy (prompt_format: chat), plain prompts as user turns."""
    conversational = isinstance(prompts["train"][0]["prompt"], list)
    if not conversational and policy_info.get("prompt_format") != "chat":
        return prompts, False
    if not tokenizer.chat_template:
        raise UserError(
            "the prompts are conversational (lists of messages) but the policy's tokenizer has no "
            "chat template. Use plain-text prompts, or a policy tuned with a chat template"
        )

    def render(row):
        messages = row["prompt"] if isinstance(row["prompt"], list) else [{"role": "user", "content": row["prompt"]}]
        return {"prompt": tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)}

    return prompts.map(render), True


def fit_prompts(stage, prompts: dict, rendered: dict, tokenizer, chat: bool, window, response: int, key: str):
    """RL prompts that leave no room for `response` tokens in the policy's context window: the stage's long_rows
    (drop, the default, or error), counted per split. `prompts` and `rendered` (the text the policy reads) are the
    same rows; returns both, fitted, and the counts."""
    policy = stage.options.get("long_rows", "drop")
    if not window:
        return prompts, rendered, {}
    limit = window - response
    if limit < 1:
        raise UserError(
            f"stage {stage.name}: train.{key} {response} leaves no room for a prompt in the policy's "
            f"{window}-token context window. Lower train.{key}"
        )
    text = f"{limit} (the context window {window} less {key} {response})"
    figures = {}
    for split in list(rendered):
        ids = tokenizer(list(rendered[split]["prompt"]), add_special_tokens=not chat, verbose=False)["input_ids"]
        sizes = [len(row) for row in ids]
        keep = [i for i, n in enumerate(sizes) if n <= limit]
        lengths.apply_policy(stage, split, rendered[split], sizes, limit, policy, text)  # error: refuse
        if len(keep) < len(sizes):
            rendered[split], prompts[split] = rendered[split].select(keep), prompts[split].select(keep)
        figures.update(
            lengths.counts(stage, split, len(sizes), len(keep), len(sizes) - len(keep), policy, limit, limit_text=text)
        )
    return prompts, rendered, figures

"""The stage kinds: which keys a stage of each kind takes, which config class its `train:` block fills,
which data columns it needs and which metric heads its summary. Pure data, cheap to import."""

from dataclasses import dataclass, field

# Keys every data block may hold, besides the kind's own column-name keys.
DATA_KEYS = {
    "path": "str|dict",        # demo:NAME, a local file or folder, or {train: file, validation: file, test: file}
    "hub": "str",              # a Hub dataset id (needs internet)
    "config": "str",           # the Hub dataset's configuration name
    "split": "str",            # the split to read as train (Hub datasets), default "train"
    "validation_size": "float|int",  # split a validation set off train when the data has none
    "test_size": "float|int",        # split a test set off train when the data has none
    "max_rows": "int",         # keep only the first N rows of each split (quick runs)
}


@dataclass(frozen=True)
class Kind:
    config: str | None                         # config class whose fields `train:` holds
    refs: tuple[str, ...] = ()                 # keys that name a model or tokenizer
    options: dict = field(default_factory=dict)  # other stage keys -> type ("int", "str", ...), tuple of choices,
                                                 # or {key: type} for a mapping holding only those keys
    fields: dict = field(default_factory=dict)   # data-block keys naming columns -> default column name
    columns: tuple = ()                        # alternatives of required columns (after renaming), any one will do
    headline: str | tuple = "train_loss"       # the metric shown in the run summary (a tuple: first one present)
    needs: tuple[str, ...] = ("model",)        # refs that must be given


TEXT = {"text_field": "text"}
# GenerationConfig fields a seq2seq stage's generation: may set (checked without importing transformers).
GENERATION = {"num_beams": "int", "max_new_tokens": "int", "min_new_tokens": "int", "length_penalty": "float",
              "no_repeat_ngram_size": "int", "encoder_no_repeat_ngram_size": "int", "repetition_penalty": "float",
              "early_stopping": "bool", "do_sample": "bool", "temperature": "float", "top_k": "int", "top_p": "float"}
PREFERENCE_COLUMNS = (("prompt", "chosen", "rejected"), ("chosen", "rejected"), ("prompt", "responses", "ranking"))

KINDS = {
    "tokenizer": Kind(
        config=None,
        options={"type": ("bpe", "wordpiece", "unigram"), "vocab_size": "int", "min_frequency": "int",
                 "model_max_length": "int", "lowercase": "bool"},
        fields={"text_field": "text"},  # may list several columns, e.g. [en, de]: one vocabulary for both sides
        columns=(("text",),), headline="vocab_size", needs=()),
    "pretrain": Kind(
        config="TrainingArguments", refs=("model", "tokenizer"),
        options={"objective": ("clm", "mlm"), "block_size": "int", "mlm_probability": "float"},
        fields=TEXT, columns=(("text",),), headline="perplexity"),
    "classify": Kind(
        config="TrainingArguments", refs=("model", "tokenizer"),
        options={"max_length": "int"},
        fields={"text_field": "text", "text_pair_field": None, "label_field": "label"},
        columns=(("text", "label"),), headline="accuracy"),
    "sft": Kind(
        config="SFTConfig", refs=("model", "tokenizer"),
        options={"chat_template": "str"},
        fields={"prompt_field": "prompt", "completion_field": "completion", "messages_field": "messages"},
        columns=(("prompt", "completion"), ("messages",), ("text",)), headline="eval_loss"),
    "reward": Kind(
        config="RewardConfig", refs=("model", "tokenizer"),
        options={"demote_tags": "list"},
        columns=PREFERENCE_COLUMNS, headline="accuracy"),
    "dpo": Kind(
        config="DPOConfig", refs=("model", "ref_model", "tokenizer"),
        options={"demote_tags": "list", "eval_prompts": "str|dict"},   # eval_prompts: held-out prompts whose responses
        columns=PREFERENCE_COLUMNS, headline="reward_margin"),                # before/after DPO go to samples.jsonl
    "ppo": Kind(
        config="PPOConfig", refs=("policy", "reward_model", "value_model"),
        options={"eval_prompts": "str|dict"},   # a data block of held-out prompts (default: validation split of data)
        fields={"prompt_field": "prompt"}, columns=(("prompt",),), headline="mean_reward",
        needs=("policy", "reward_model")),
    "seq2seq": Kind(
        config="Seq2SeqTrainingArguments", refs=("model", "tokenizer"),
        options={"task": ("summarize", "translate"), "prefix": "str", "max_source_length": "int",
                 "max_target_length": "int", "generation": GENERATION},
        fields={"source_field": "source", "target_field": "target"},
        columns=(("source", "target"),), headline=("rougeL", "sacrebleu")),
    "sample": Kind(
        config=None, refs=("model",),
        options={"k": "int", "max_new_tokens": "int", "temperature": "float", "top_p": "float", "top_k": "int"},
        fields={"prompt_field": "prompt"}, columns=(("prompt",),), headline="prompts"),
}

STAGE_KEYS = {"name", "kind", "data", "train", "peft"}


def stage_keys(kind: Kind) -> set[str]:
    """Every key a stage of this kind may hold."""
    keys = STAGE_KEYS | set(kind.refs) | set(kind.options)
    if kind.config is None:
        keys -= {"train", "peft"}
    return keys

"""The stage kinds, one `Kind` each: the keys a stage takes, the config class its `train:` fills, the module that
runs it, the kinds of earlier stage each reference may name, what its folder holds, how much data it holds out and
whether it resumes. Pure data, cheap to import: adding a kind is one entry here plus one module in `stages/`."""

from dataclasses import dataclass, field

# Keys every data block may hold, besides the kind's own column-name keys.
DATA_KEYS = {
    "path": "str|dict",  # demo:NAME, a local file or folder, or {train: file, validation: file, test: file}
    "hub": "str",  # a Hub dataset id (needs internet)
    "config": "str",  # the Hub dataset's configuration name
    "split": "str",  # the split to read as train (Hub datasets), default "train"
    "validation_size": "float|int",  # split a validation set off train when the data has none
    "test_size": "float|int",  # split a test set off train when the data has none
    "max_rows": "int",  # keep only the first N rows of each split (quick runs)
}
# What a stage's output folder holds (Kind.produces); a ref lists the products it accepts.
TOKENIZER, CAUSAL_LM, MASKED_LM, CLASSIFIER, SCORER, SEQ2SEQ, BATCH = (
    "tokenizer",
    "causal_lm",
    "masked_lm",
    "classifier",
    "scorer",
    "seq2seq",
    "labelling batch",
)
MODELS = (CAUSAL_LM, MASKED_LM, CLASSIFIER, SCORER, SEQ2SEQ)
ANY_TOKENIZER = (TOKENIZER, *MODELS)  # every model folder saves its tokenizer too


@dataclass(frozen=True)
class Kind:
    runner: str  # module whose run(stage, ctx) -> metrics trains the stage
    config: str | None  # "module:Class" whose fields `train:` holds (None: no trainer)
    produces: str  # what the stage folder holds (pretrain: see output_of)
    refs: dict = field(default_factory=dict)  # ref key -> products an earlier stage named there must hold
    needs: tuple[str, ...] = ("model",)  # refs that must be given
    options: dict = field(default_factory=dict)  # other stage keys -> type ("int", "str", ...), tuple of choices,
    # or {key: type} for a mapping holding only those keys
    fields: dict = field(default_factory=dict)  # data-block keys naming columns -> default column name
    columns: tuple = ()  # alternatives of required columns (after renaming), any one will do
    headline: str | tuple = "train_loss"  # the metric shown in the run summary (a tuple: first one present)
    baseline: str | tuple | None = None  # what the headline is compared with there (same tuple order)
    holdout: float | None = None  # share of train held out for validation when the data has none
    resumable: bool = True  # a rerun continues from the last checkpoint (else starts over)
    many: tuple[str, ...] = ()  # refs that may list several models (e.g. reward_model: [a, b])

    @property
    def config_name(self) -> str | None:
        return self.config.split(":")[1] if self.config else None


# GenerationConfig fields a seq2seq stage's generation: may set (checked without importing transformers).
GENERATION = {
    "num_beams": "int",
    "max_new_tokens": "int",
    "min_new_tokens": "int",
    "length_penalty": "float",
    "no_repeat_ngram_size": "int",
    "encoder_no_repeat_ngram_size": "int",
    "repetition_penalty": "float",
    "early_stopping": "bool",
    "do_sample": "bool",
    "temperature": "float",
    "top_k": "int",
    "top_p": "float",
}
PREFERENCE_COLUMNS = (("prompt", "chosen", "rejected"), ("chosen", "rejected"), ("prompt", "responses", "ranking"))
PROMPT = {"prompt_field": "prompt"}
PREFERENCE_FIELDS = {"prompt_field": "prompt", "chosen_field": "chosen", "rejected_field": "rejected"}
MODEL_REFS = {"model": MODELS, "tokenizer": ANY_TOKENIZER}
RL_REFS = {"policy": (CAUSAL_LM,), "reward_model": (SCORER,)}
RL_OPTIONS = {
    "eval_prompts": "str|dict",  # held-out prompts (a data block; default: validation split of data)
    "long_rows": ("drop", "error"),  # prompts leaving no room for the answer in the context window (lengths)
    "reward_funcs": "list",
}  # Python reward functions "module:function", imported from the working
# directory (TRL's convention): this runs the user's code


def rl_kind(runner: str, config: str) -> Kind:
    """rloo and grpo: the same refs, options and evaluation; only the trainer differs."""
    return Kind(
        runner=runner,
        config=config,
        produces=CAUSAL_LM,
        refs=RL_REFS,
        options=RL_OPTIONS,
        fields=PROMPT,
        columns=(("prompt",),),
        headline="mean_reward",
        baseline="mean_reward_sft",
        needs=("policy",),
        holdout=0.1,
        many=("reward_model",),
    )


KINDS = {
    "tokenizer": Kind(
        runner="hfpipeline.stages.tokenizer",
        config=None,
        produces=TOKENIZER,
        options={
            "type": ("bpe", "wordpiece", "unigram"),
            "vocab_size": "int",
            "min_frequency": "int",
            "model_max_length": "int",
            "lowercase": "bool",
        },
        fields={"text_field": "text"},  # may list several columns, e.g. [en, de]: one vocabulary for both sides
        columns=(("text",),),
        headline="vocab_size",
        needs=(),
    ),
    "pretrain": Kind(
        runner="hfpipeline.stages.pretrain",
        config="transformers:TrainingArguments",
        produces=CAUSAL_LM,
        refs=MODEL_REFS,
        options={"objective": ("clm", "mlm"), "block_size": "int", "mlm_probability": "float"},
        fields={"text_field": "text"},
        columns=(("text",),),
        headline="perplexity",
        holdout=0.05,
    ),
    "classify": Kind(
        runner="hfpipeline.stages.classify",
        config="transformers:TrainingArguments",
        produces=CLASSIFIER,
        refs=MODEL_REFS,
        options={"max_length": "int"},
        fields={"text_field": "text", "text_pair_field": None, "label_field": "label"},
        columns=(("text", "label"),),
        headline="accuracy",
        baseline="majority_baseline",
        holdout=0.1,
    ),
    "sft": Kind(
        runner="hfpipeline.stages.sft",
        config="trl:SFTConfig",
        produces=CAUSAL_LM,
        refs={"model": (CAUSAL_LM,), "tokenizer": ANY_TOKENIZER},
        options={
            "chat_template": "str",
            "separator": "str",  # separator: between prompt and completion
            "long_rows": ("truncate", "drop", "error"),
        },  # rows over max_length (hfpipeline.lengths)
        fields={"prompt_field": "prompt", "completion_field": "completion", "messages_field": "messages"},
        columns=(("prompt", "completion"), ("messages",), ("text",)),
        headline="eval_loss",
        baseline="eval_loss_before",
        holdout=0.05,
    ),
    "reward": Kind(
        runner="hfpipeline.stages.reward",
        config="trl:RewardConfig",
        produces=SCORER,
        refs={"model": (CAUSAL_LM, SCORER), "tokenizer": ANY_TOKENIZER},
        options={"demote_tags": "list", "long_rows": ("drop", "error")},  # TRL's RewardTrainer cannot truncate
        fields=PREFERENCE_FIELDS,
        columns=PREFERENCE_COLUMNS,
        headline="accuracy",
        baseline="accuracy_before",
        holdout=0.1,
    ),
    "dpo": Kind(
        runner="hfpipeline.stages.dpo",
        config="trl:DPOConfig",
        produces=CAUSAL_LM,
        refs={"model": (CAUSAL_LM,), "ref_model": (CAUSAL_LM,), "tokenizer": ANY_TOKENIZER},
        options={
            "demote_tags": "list",
            "eval_prompts": "str|dict",  # eval_prompts: held-out prompts whose
            "long_rows": ("truncate", "drop", "error"),
        },
        fields=PREFERENCE_FIELDS,
        columns=PREFERENCE_COLUMNS,
        headline="reward_margin",  # responses: samples.jsonl
        baseline="reward_margin_before",
        holdout=0.05,
    ),
    "ppo": Kind(
        runner="hfpipeline.stages.ppo",
        config="trl.experimental.ppo:PPOConfig",
        produces=CAUSAL_LM,
        refs={"policy": (CAUSAL_LM,), "reward_model": (SCORER,), "value_model": (SCORER,)},
        # eval_prompts: a data block of held-out prompts (default: the validation split of data)
        options={"eval_prompts": "str|dict", "long_rows": ("drop", "error")},
        fields=PROMPT,
        columns=(("prompt",),),
        headline="mean_reward",
        baseline="mean_reward_sft",
        needs=("policy", "reward_model"),
        holdout=0.1,
    ),  # resumes through stages/ppo.py's ResumablePPOTrainer (TRL's train() takes no checkpoint)
    # RL with TRL's maintained trainers: no value model, the reward model(s) and/or Python reward functions score
    # sampled answers (models may use their own tokenizer), KL to the frozen policy; checkpoints resume.
    "rloo": rl_kind("hfpipeline.stages.rloo", "trl:RLOOConfig"),
    "grpo": rl_kind("hfpipeline.stages.grpo", "trl:GRPOConfig"),
    "seq2seq": Kind(
        runner="hfpipeline.stages.seq2seq",
        config="transformers:Seq2SeqTrainingArguments",
        produces=SEQ2SEQ,
        refs=MODEL_REFS,
        options={
            "task": ("summarize", "translate"),
            "prefix": "str",
            "max_source_length": "int",
            "max_target_length": "int",
            "generation": GENERATION,
        },
        fields={"source_field": "source", "target_field": "target"},
        columns=(("source", "target"),),
        headline=("rougeL", "sacrebleu"),
        baseline=("lead_rougeL", None),
    ),
    "sample": Kind(
        runner="hfpipeline.stages.sample",
        config=None,
        produces=BATCH,
        refs={"model": (CAUSAL_LM,)},
        options={"k": "int", "max_new_tokens": "int", "temperature": "float", "top_p": "float", "top_k": "int"},
        fields=PROMPT,
        columns=(("prompt",),),
        headline="prompts",
    ),
}

STAGE_KEYS = {"name", "kind", "data", "train", "peft"}


def stage_keys(kind: Kind) -> set[str]:
    """Every key a stage of this kind may hold."""
    keys = STAGE_KEYS | set(kind.refs) | set(kind.options)
    if kind.config is None:
        keys -= {"train", "peft"}
    return keys


def output_of(kind_name: str, options: dict) -> str:
    """What a stage's folder holds; a pretrain stage's objective decides between a causal and a masked LM."""
    if kind_name == "pretrain" and options.get("objective") == "mlm":
        return MASKED_LM
    return KINDS[kind_name].produces


def producing(product: str) -> tuple[str, ...]:
    """The kinds whose output can be `product`, e.g. the kinds a causal LM can come from."""
    return tuple(name for name, kind in KINDS.items() if kind.produces == product)

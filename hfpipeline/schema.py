"""Field names and types of the HF/TRL/PEFT config classes, and value checks.

The field table comes from hfpipeline/config_fields.py: the shipped config_fields.json for the versions it was
generated from, else a table generated once from the installed libraries and cached, so validation stays fast.
"""

import difflib
import re
from functools import cache

PY_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool, "list": list, "dict": dict}


@cache
def _schema() -> dict:
    from hfpipeline import config_fields as table

    return table.load()


def config_fields(config: str) -> dict | None:
    """{field: {"type", "optional", "choices"?}} of a config class, e.g. 'SFTConfig'; None when the installed
    libraries lack it (PPOConfig on TRL >= 1.13)."""
    return _schema()["configs"].get(config)


def model_config_keys() -> dict:
    """{model_type: [config keys]} for the model types a recipe may build from a config."""
    return _schema()["model_types"]


def suggest(word: str, options) -> str:
    """' (did you mean 'x'?)' for the closest option, or ''."""
    match = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def check_value(value, spec) -> str | None:
    """None when `value` fits `spec` ('int', 'float|int', a tuple of choices or a config field), else why not."""
    if isinstance(spec, tuple):
        return None if value in spec else f"{value!r} is not one of {', '.join(map(str, spec))}"
    if isinstance(spec, dict):
        if value is None:
            return None if spec.get("optional") else "must not be empty (null)"
        problem = check_value(value, spec["type"])
        if problem is None and "choices" in spec and isinstance(value, str) and value not in spec["choices"]:
            return f"{value!r} is not one of {', '.join(map(str, spec['choices']))}{suggest(value, spec['choices'])}"
        return problem
    kinds = spec.split("|")
    if "any" in kinds or any(_is(value, k) for k in kinds):
        return None
    return f"expected {' or '.join(kinds)}, got {type(value).__name__} {value!r}"


def _is(value, kind: str) -> bool:
    if kind == "float" and isinstance(value, str):
        try:
            float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
            return True
        except ValueError:
            return False
    if isinstance(value, bool) and kind in ("int", "float"):
        return False
    return isinstance(value, PY_TYPES[kind])


# --- value ranges ------------------------------------------------------------------------------------------------


class Range:
    """The values a number may take: `low`/`high` bounds (open or closed), sentinels the library reads as "unset"
    (e.g. max_steps: -1), and a point past which a legal value is absurd enough to warn about."""

    def __init__(self, low=None, high=None, low_open=False, high_open=False, unset=(), warn_above=None):
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open
        self.unset, self.warn_above = unset, warn_above

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low}"
        return f"{'<' if self.high_open else '<='} {self.high}"

    def problem(self, value) -> str | None:
        """Why `value` is out of range, or None."""
        if value in self.unset:
            return None
        low_bad = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        high_bad = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if low_bad or high_bad or value != value:  # value != value: NaN
            unset = f" (or {', '.join(map(str, self.unset))} for unset)" if self.unset else ""
            return f"{value!r} is out of range: must be {self.describe()}{unset}"
        return None


POSITIVE, COUNT, NONNEG = Range(0, low_open=True), Range(1), Range(0)
PROBABILITY, FRACTION, SHARE = Range(0, 1, True, True), Range(0, 1), Range(0, 1, high_open=True)
TOP_P, SEED = Range(0, 1, low_open=True), Range(0, 2**32 - 1)  # numpy seeds are 32-bit
STEPS = Range(0, low_open=True)  # logging/eval/save_steps: a float < 1 is a share of the run
# Every number the project owns or passes through that has a valid range. A key is a field name (any config, stage
# option or data key of that name) or (scope, name) where scope is a config class, stage kind, "data", "generation",
# "recipe" or a from_config model type; the (scope, name) entry wins.
RANGES = {
    # recipe and data blocks
    ("recipe", "seed"): SEED,
    "max_rows": COUNT,
    # TrainingArguments and the TRL configs built on it
    "learning_rate": POSITIVE,
    "num_train_epochs": Range(0, low_open=True, warn_above=1e6 - 1),
    "max_steps": Range(1, unset=(-1,), warn_above=10_000_000),
    "per_device_train_batch_size": COUNT,
    "per_device_eval_batch_size": COUNT,
    "gradient_accumulation_steps": COUNT,
    "eval_accumulation_steps": COUNT,
    "seed": SEED,
    "data_seed": SEED,
    "weight_decay": NONNEG,
    "max_grad_norm": NONNEG,
    "adam_beta1": SHARE,
    "adam_beta2": SHARE,
    "adam_epsilon": POSITIVE,
    "warmup_steps": NONNEG,
    "logging_steps": STEPS,
    "eval_steps": STEPS,
    "save_steps": STEPS,
    "save_total_limit": COUNT,
    "dataloader_num_workers": NONNEG,
    "label_smoothing_factor": SHARE,
    "eval_delay": NONNEG,
    "dataset_num_proc": COUNT,
    "pad_to_multiple_of": COUNT,
    "neftune_noise_alpha": POSITIVE,
    "generation_max_length": COUNT,
    "generation_num_beams": COUNT,
    "torch_empty_cache_steps": COUNT,
    # TRL: sft/reward/dpo/ppo
    "max_length": COUNT,
    "beta": POSITIVE,
    "label_smoothing": Range(0, 0.5),
    "kl_coef": NONNEG,
    "cliprange": POSITIVE,
    "cliprange_value": POSITIVE,
    "vf_coef": NONNEG,
    "gamma": FRACTION,
    "lam": FRACTION,
    "num_ppo_epochs": COUNT,
    "num_mini_batches": COUNT,
    "response_length": COUNT,
    "total_episodes": COUNT,
    "num_sample_generations": NONNEG,
    "local_rollout_forward_batch_size": COUNT,
    ("PPOConfig", "temperature"): POSITIVE,
    # LoRA
    "r": COUNT,
    "lora_alpha": POSITIVE,
    "lora_dropout": SHARE,
    # stage options
    "vocab_size": COUNT,
    "min_frequency": NONNEG,
    "model_max_length": COUNT,
    "block_size": COUNT,
    "mlm_probability": PROBABILITY,
    "max_source_length": COUNT,
    "max_target_length": COUNT,
    ("sample", "k"): Range(2),
    "max_new_tokens": COUNT,
    ("sample", "temperature"): NONNEG,
    "top_p": TOP_P,
    "top_k": NONNEG,  # 0: no top-k filter, as in transformers
    # a seq2seq stage's generation:
    "num_beams": COUNT,
    "min_new_tokens": NONNEG,
    "no_repeat_ngram_size": NONNEG,
    "encoder_no_repeat_ngram_size": NONNEG,
    "repetition_penalty": POSITIVE,
    ("generation", "temperature"): POSITIVE,
}
# from_config: sizes and counts are >= 1, dropouts are shares; WIDTH_HEADS: the width the heads must divide.
CONFIG_COUNT = re.compile(
    r"^(n_(?!inner)\w+|num_\w+|\w*_size|d_model|d_ff|d_kv|dim|hidden_dim|\w*_heads|"
    r"\w*_layers|max_position_embeddings|n_positions|n_ctx|intermediate_size)$"
)
CONFIG_SHARE = re.compile(r"\w*(dropout|pdrop|_prob)\w*$")
WIDTH_HEADS = {  # model type -> (width key, heads key, default width, default heads) of transformers' config
    "gpt2": ("n_embd", "n_head", 768, 12),
    "bert": ("hidden_size", "num_attention_heads", 768, 12),
    "roberta": ("hidden_size", "num_attention_heads", 768, 12),
    "distilbert": ("dim", "n_heads", 768, 12),
    "llama": ("hidden_size", "num_attention_heads", 4096, 32),
    "qwen2": ("hidden_size", "num_attention_heads", 4096, 32),
    "bart": ("d_model", "encoder_attention_heads", 1024, 16),  # t5: heads have their own width, d_kv
}


KV_HEADS = {"qwen2": 32}  # transformers' default num_key_value_heads where it is not "as many as the heads"


def range_of(scope: str, name: str) -> Range | None:
    """The valid range of field `name` in `scope` (a config class, stage kind, "data", "generation", ...), if any."""
    return RANGES.get((scope, name)) or RANGES.get(name)


def check_range(value, scope: str, name: str) -> tuple[str | None, str | None]:
    """(problem, warning) for a number already of the right type; strings such as "1e-4" are read as floats."""
    spec = range_of(scope, name)
    if spec is None or value is None or isinstance(value, bool):
        return None, None
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        return None, None
    if not isinstance(number, (int, float)):
        return None, None
    problem = spec.problem(number)
    if problem is None and spec.warn_above is not None and number > spec.warn_above:
        return None, f"{value!r} is legal but absurd (more than {spec.warn_above:,.0f}); is it a typo?"
    return problem, None


def config_ref_problems(model_type: str, values: dict) -> list[tuple[str, str]]:
    """[(key, problem)] of a from_config block: sizes >= 1, dropouts in [0, 1), width divisible by heads."""
    out = []
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        count = CONFIG_COUNT.match(key) and isinstance(value, int)
        spec = COUNT if count else SHARE if CONFIG_SHARE.match(key) else None
        if spec and (problem := spec.problem(value)):
            out.append((key, problem))
    if model_type in WIDTH_HEADS and not out:
        width_key, heads_key, width, heads = WIDTH_HEADS[model_type]
        width, heads = values.get(width_key, width), values.get(heads_key, heads)
        if isinstance(width, int) and isinstance(heads, int) and width % heads:
            key = width_key if width_key in values else heads_key
            fit = width // heads * heads or heads
            out.append(
                (
                    key,
                    f"{width_key}={width} is not divisible by {heads_key}={heads}: each attention head "
                    f"gets {width_key}/{heads_key} dimensions. E.g. {width_key}: {fit}",
                )
            )
        kv_heads = values.get("num_key_value_heads", KV_HEADS.get(model_type) or heads)
        if not out and isinstance(kv_heads, int) and isinstance(heads, int) and heads % kv_heads:
            out.append(
                (
                    "num_key_value_heads",
                    f"{heads_key}={heads} is not divisible by num_key_value_heads="
                    f"{kv_heads}: query heads share key/value heads in equal groups. "
                    f"Set num_key_value_heads, e.g. to {heads}",
                )
            )
    return out

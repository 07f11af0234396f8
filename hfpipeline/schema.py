"""Field names and types of the HF/TRL/PEFT config classes, and value checks.

The field table comes from hfpipeline/config_fields.py: the shipped config_fields.json for the versions it was
generated from, else a table generated once from the installed libraries and cached, so validation stays fast.
"""

import difflib
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

"""Regenerate hfpipeline/config_fields.json from the installed transformers, TRL and PEFT.

The recipe validator checks `train:`, `peft:` and `from_config` keys against this file, so `hfpipeline validate`
never imports the heavy libraries. Run after upgrading them: `python scripts/gen_config_fields.py`.
tests/test_config_fields.py fails when the file no longer matches the installed versions.
"""

import dataclasses
import enum
import json
import os
import sys
import types
import typing
from pathlib import Path

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
OUT = Path(__file__).resolve().parent.parent / "hfpipeline" / "config_fields.json"
MODEL_TYPES = ("gpt2", "llama", "qwen2", "bert", "roberta", "distilbert", "t5", "bart")


def _config_classes():
    """Every config class a stage kind's train: fills (hfpipeline.kinds), plus peft's LoraConfig for peft:."""
    import importlib

    from hfpipeline.kinds import KINDS

    paths = {kind.config for kind in KINDS.values() if kind.config} | {"peft:LoraConfig"}
    classes = {}
    for path in sorted(paths):
        module, name = path.split(":")
        classes[name] = getattr(importlib.import_module(module), name)
    return classes


def _describe(tp) -> dict:
    """Reduce a type annotation to what the validator checks: a type name, optional-ness and choices."""
    optional = False
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        if len(args) == 1:
            tp, origin = args[0], typing.get_origin(args[0])
        else:
            descs = [_describe(a) for a in args]
            kinds = sorted({d["type"] for d in descs})
            out = {"type": kinds[0] if len(kinds) == 1 else "|".join(kinds), "optional": optional}
            enums = [d["choices"] for d in descs if "choices" in d]
            if len(enums) == 1 and kinds == ["str"]:  # Union[SomeEnum, str]: the enum's values are the choices
                out["choices"] = enums[0]
            return out
    out = {"optional": optional}
    if origin is typing.Literal:
        out.update(type="str", choices=list(typing.get_args(tp)))
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        out.update(type="str", choices=[m.value for m in tp])
    elif tp in (bool, int, float, str):
        out["type"] = tp.__name__
    elif origin in (list, tuple, set) or tp in (list, tuple, set):
        out["type"] = "list"
    elif origin is dict or tp is dict:
        out["type"] = "dict"
    else:
        out["type"] = "any"
    return out


def _fields(cls) -> dict:
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name.startswith("_"):
            continue
        desc = _describe(hints.get(f.name, typing.Any))
        choices = (f.metadata or {}).get("choices")
        if choices and "choices" not in desc:
            desc["choices"] = [c.value if isinstance(c, enum.Enum) else c for c in choices]
        out[f.name] = desc
    return out


def _model_config_keys() -> dict:
    from transformers import AutoConfig

    return {t: sorted(set(AutoConfig.for_model(t).to_dict()) | {"vocab_size"}) for t in MODEL_TYPES}


def build() -> dict:
    """Everything config_fields.json holds, from the installed libraries."""
    import peft
    import transformers
    import trl

    return {
        "versions": {"transformers": transformers.__version__, "trl": trl.__version__, "peft": peft.__version__},
        "configs": {name: _fields(cls) for name, cls in _config_classes().items()},
        "model_types": _model_config_keys(),
    }


def main() -> None:
    OUT.write_text(json.dumps(build(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()

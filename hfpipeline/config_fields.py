"""The field table `train:`, `peft:` and `from_config` keys are checked against, for the libraries installed: the
shipped config_fields.json when the installed transformers/TRL/PEFT are the versions it was generated from, else a
table generated once from the installed config classes and cached in the user's cache folder, keyed by the versions.
"""

import dataclasses
import enum
import hashlib
import json
import os
import sys
import types
import typing
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("config_fields.json")
LIBRARIES = ("transformers", "trl", "peft")
MODEL_TYPES = ("gpt2", "llama", "qwen2", "bert", "roberta", "distilbert", "t5", "bart")


def installed_versions() -> dict:
    """{library: version} of the installed transformers, TRL and PEFT, read from package metadata (no import)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def config_paths() -> list[str]:
    """ "module:Class" of every config class a stage kind's train: fills (hfpipeline.kinds), plus peft's LoraConfig."""
    from hfpipeline.kinds import KINDS

    return sorted({kind.config for kind in KINDS.values() if kind.config} | {"peft:LoraConfig"})


def key(versions: dict) -> str:
    """The cache key of a table: library versions plus a hash of what it covers (classes and model types)."""
    covered = hashlib.sha256(json.dumps([config_paths(), MODEL_TYPES]).encode()).hexdigest()[:10]
    return "-".join(f"{name}{versions.get(name)}" for name in LIBRARIES) + f"-{covered}"


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/hfpipeline, else ~/.cache/hfpipeline."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hfpipeline"


def load(versions: dict | None = None) -> dict:
    """The table for `versions` (default: the installed ones): the snapshot, the cached table, or a new one."""
    versions = versions or installed_versions()
    snapshot = json.loads(SNAPSHOT.read_text())
    if snapshot.get("key") == key(versions):
        return snapshot
    cached = cache_dir() / f"config_fields-{key(versions)}.json"
    try:
        return json.loads(cached.read_text())
    except (OSError, ValueError):
        pass  # not generated yet (or a half-written file from an old crash): generate it
    print(
        f"hfpipeline: reading the config fields of transformers {versions['transformers']}, trl "
        f"{versions['trl']}, peft {versions['peft']} (once; cached in {cached.parent})",
        file=sys.stderr,
    )
    table = build()
    try:
        from hfpipeline.files import write_text_atomic

        write_text_atomic(cached, json.dumps(table, sort_keys=True) + "\n")
    except OSError:
        pass  # a read-only home: validation still works, it just generates again next time
    return table


def build() -> dict:
    """The whole table from the installed libraries. A config class that does not import (PPOConfig on TRL >= 1.13)
    is listed under "unavailable" with the reason."""
    import importlib

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    configs, unavailable = {}, {}
    for path in config_paths():
        module, name = path.split(":")
        try:
            configs[name] = _fields(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError) as e:
            unavailable[name] = f"{path}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    versions = installed_versions()
    return {
        "versions": versions,
        "key": key(versions),
        "configs": configs,
        "unavailable": unavailable,
        "model_types": _model_config_keys(),
    }


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

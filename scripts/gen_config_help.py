"""Regenerate hfpipeline/config_help.json: the help text of every field of the config classes whose fields
config_fields.json lists (dataclass `metadata["help"]`), the descriptions of the recipe JSON Schema.

A config's entry holds only the texts that differ from TrainingArguments' (the TRL configs subclass it).
Run after upgrading transformers/TRL/PEFT: `python scripts/gen_config_help.py`, then `hfpipeline schema -o
hfpipeline/recipe.schema.json`. tests/test_schema.py fails when either file is out of date.
"""

import dataclasses
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's hfpipeline, installed or not
OUT = Path(__file__).resolve().parent.parent / "hfpipeline" / "config_help.json"
BASE = "TrainingArguments"


def _config_classes() -> dict:
    """The config classes the field table covers (hfpipeline.config_fields), those that import here."""
    import importlib

    from hfpipeline import config_fields

    classes = {}
    for path in config_fields.config_paths():
        module, name = path.split(":")
        try:
            classes[name] = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):  # e.g. PPOConfig on TRL >= 1.13
            continue
    return classes


def build() -> dict:
    """{config: {field: help}} from the installed libraries."""
    texts = {
        name: {
            f.name: " ".join(str(f.metadata.get("help", "")).split())
            for f in dataclasses.fields(cls)
            if f.init and not f.name.startswith("_") and f.metadata.get("help")
        }
        for name, cls in _config_classes().items()
    }
    base = texts[BASE]
    return {
        name: fields if name == BASE else {k: v for k, v in fields.items() if base.get(k) != v}
        for name, fields in texts.items()
    }


def main() -> None:
    OUT.write_text(json.dumps(build(), indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()

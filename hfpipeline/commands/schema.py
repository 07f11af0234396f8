"""`hfpipeline schema`: a draft-07 JSON Schema of the recipe format, for editors (completion, hover help, checks).

Built from the same tables `validate` uses — kinds.KINDS, recipe.TOP_KEYS, kinds.DATA_KEYS, config_fields.json —
with the config classes' help texts (config_help.json) as descriptions. Shipped as hfpipeline/recipe.schema.json;
recipes point at it with `# yaml-language-server: $schema=../hfpipeline/recipe.schema.json`."""

import json
import sys
from functools import cache
from pathlib import Path

from hfpipeline import kinds
from hfpipeline.schema import config_fields, model_config_keys

SHIPPED = Path(__file__).resolve().parent.parent / "recipe.schema.json"
HELP_FILE = Path(__file__).resolve().parent.parent / "config_help.json"
FLOAT_TEXT = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"  # YAML 1.1 reads 1e-4 as a string; validate accepts it
JSON_TYPES = {"int": "integer", "str": "string", "bool": "boolean", "list": "array", "dict": "object"}
STAGE_NAME = r"^[A-Za-z0-9][\w\-]*$"


def schema_command(args) -> int:
    """Print the schema, or write it to --output."""
    text = render()
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def render() -> str:
    return json.dumps(build(), indent=1) + "\n"


def build() -> dict:
    """The recipe format as a JSON Schema (draft-07)."""
    from hfpipeline.recipe import TOP_KEYS

    configs = sorted({k.config_name for k in kinds.KINDS.values() if k.config} | {"TrainingArguments", "LoraConfig"})
    top = {key: _type(spec) for key, spec in TOP_KEYS.items()}
    top["name"]["description"] = "the run's name; output_dir defaults to runs/NAME"
    top["seed"]["description"] = "seed of every stage (default 42)"
    top["output_dir"]["description"] = "the run directory (default runs/NAME)"
    shared = {
        "$ref": "#/definitions/config_TrainingArguments",
        "description": "TrainingArguments fields every trainer stage starts from",
    }
    top["defaults"] = {
        "type": "object",
        "additionalProperties": False,
        "description": "settings every stage shares",
        "properties": {"train": shared},
    }
    top["stages"] = {
        "type": "array",
        "minItems": 1,
        "items": {"$ref": "#/definitions/stage"},
        "description": "the stages to run, in order",
    }
    definitions = {
        "stage": _stage_switch(),
        **{f"stage_{name}": _stage(name, kind) for name, kind in kinds.KINDS.items()},
        **{f"data_{name}": _data(kind) for name, kind in kinds.KINDS.items()},
        **{f"config_{name}": _config(name) for name in configs},
        "model_ref": _model_ref(),
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "hfpipeline recipe",
        "description": "A recipe for `hfpipeline run`: named stages run in order (docs/recipes.md)",
        "type": "object",
        "required": ["name", "stages"],
        "additionalProperties": False,
        "properties": top,
        "definitions": definitions,
    }


def _stage_switch() -> dict:
    """A stage: name and kind, then the keys of its kind (if kind == X then stage_X)."""
    return {
        "type": "object",
        "required": ["name", "kind"],
        "properties": {"name": {"type": "string", "pattern": STAGE_NAME}, "kind": {"enum": list(kinds.KINDS)}},
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": name}}, "required": ["kind"]},
                "then": {"$ref": f"#/definitions/stage_{name}"},
            }
            for name in kinds.KINDS
        ],
    }


def _stage(name: str, kind: kinds.Kind) -> dict:
    props = {
        "name": {"type": "string", "pattern": STAGE_NAME, "description": "the stage's name and folder"},
        "kind": {"const": name},
        "data": {"$ref": f"#/definitions/data_{name}"},
    }
    for ref, products in kind.refs.items():
        props[ref] = {
            "$ref": "#/definitions/model_ref",
            "description": f"an earlier stage producing {' or '.join(products)}, a local folder or a Hub id",
        }
    for key, spec in kind.options.items():
        props[key] = _type(spec)
    if kind.config:
        props["train"] = {
            "$ref": f"#/definitions/config_{kind.config_name}",
            "description": f"fields of {kind.config_name}",
        }
        props["peft"] = {"$ref": "#/definitions/config_LoraConfig", "description": "LoRA adapters (peft.LoraConfig)"}
    required = list(kind.needs) + ([] if name == "ppo" else ["data"])  # as recipe._validate_stage
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
        "description": f"a {name} stage: its folder holds a {kind.produces}",
    }


def _data(kind: kinds.Kind) -> dict:
    """A data block: demo:NAME / a path as a string, or a mapping of DATA_KEYS and the kind's column keys."""
    props = {key: _type(spec) for key, spec in kinds.DATA_KEYS.items()}
    props["path"] = {
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {s: {"type": "string"} for s in ("train", "validation", "test")},
            },
        ],
        "description": "demo:NAME, a local file or folder, or {train: FILE, validation: FILE, test: FILE}",
    }
    for key, default in kind.fields.items():
        text = "str|list" if kind.config is None and key == "text_field" else "str"  # as data_refs.check_block
        props[key] = {**_type(text), "description": f"the column to read as {key[:-6]} (default {default})"}
    props = {k: {**v, "type": _nullable(v)} if "type" in v else v for k, v in props.items()}
    return {
        "anyOf": [
            {"type": "string", "description": "demo:NAME or a local file or folder"},
            {"type": "object", "properties": props, "additionalProperties": False},
        ]
    }


def _nullable(spec: dict) -> list:
    types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    return [*types, "null"]


def _model_ref() -> dict:
    """A model/tokenizer reference: a string, {path: ..., trust_remote_code, revision} or {from_config: TYPE, ...}."""
    extra = {"trust_remote_code": {"type": "boolean"}, "revision": {"type": "string"}}
    value = {"type": ["number", "string", "boolean", "array"]}
    forms = [
        {"type": "string", "description": "an earlier stage's name, a local folder or a Hub id"},
        {
            "type": "object",
            "required": ["path"],
            "additionalProperties": False,
            "properties": {"path": {"type": "string", "description": "a local folder or a Hub id"}, **extra},
        },
    ]
    for model_type, keys in model_config_keys().items():
        forms.append(
            {
                "type": "object",
                "required": ["from_config"],
                "additionalProperties": False,
                "description": f"a new {model_type} model with random weights; other keys are config fields",
                "properties": {
                    "from_config": {"const": model_type},
                    **extra,
                    **{k: value for k in keys if k not in extra},
                },
            }
        )
    return {"anyOf": forms}


def _config(name: str) -> dict:
    """A config class's fields: types, choices, help text (any mapping when the installed libraries lack the class,
    e.g. PPOConfig on TRL >= 1.13: validate says so in one line)."""
    fields = config_fields(name)
    if fields is None:
        return {"type": "object", "description": f"{name}: not in the installed libraries"}
    props = {}
    for field, spec in fields.items():
        entry = _type(spec["type"], spec.get("choices"), spec.get("optional"))
        text = _help(name, field)
        props[field] = {**entry, "description": text} if text else entry
    return {"type": "object", "properties": props, "additionalProperties": False, "description": f"fields of {name}"}


def _type(spec, choices=None, optional=False) -> dict:
    """A kinds/config_fields type spec ('int', 'float|int', a tuple of choices, {key: spec}) as a JSON Schema."""
    if isinstance(spec, tuple):
        return {"enum": list(spec)}
    if isinstance(spec, dict):
        return {"type": "object", "additionalProperties": False, "properties": {k: _type(v) for k, v in spec.items()}}
    names = spec.split("|")
    if "any" in names:
        return {}
    types, out = [], {}
    for n in names:
        if n == "float":
            types += ["number", "string"]
            out["pattern"] = FLOAT_TEXT
        else:
            types.append(JSON_TYPES[n])
    if optional:
        types.append("null")
    out["type"] = sorted(set(types)) if len(set(types)) > 1 else types[0]
    if choices is None:
        return out
    # YAML 1.1 reads `eval_strategy: no` as false; validate takes it for "no"
    listed = [*choices, *([False] if "no" in choices else []), *([None] if optional else [])]
    if names == ["str"]:
        return {"enum": listed}
    return {"anyOf": [{"enum": listed}, {**out, "type": [t for t in _as_list(out["type"]) if t != "string"]}]}


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@cache
def _helps() -> dict:
    return json.loads(HELP_FILE.read_text()) if HELP_FILE.is_file() else {}


def _help(config: str, field: str) -> str | None:
    """A field's help text; a TRL config shares TrainingArguments' text unless it words its own."""
    helps = _helps()
    return helps.get(config, {}).get(field) or (
        helps.get("TrainingArguments", {}).get(field) if config != "LoraConfig" else None
    )

"""Recipe files: YAML -> validated `Recipe`, with every problem reported at once as `file:line: key.path: ...`.

Nothing here imports torch or transformers: `hfpipeline validate` stays instant.
"""

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hfpipeline import data_refs
from hfpipeline.errors import RecipeErrors, UserError
from hfpipeline.handoff import RL_KINDS, check_stage_refs
from hfpipeline.kinds import KINDS, stage_keys
from hfpipeline.schema import check_value, config_fields, suggest

TOP_KEYS = {"name": "str", "seed": "int", "output_dir": "str", "defaults": "dict", "stages": "list"}
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


@dataclass
class Stage:
    name: str
    kind: str
    refs: dict          # ref key -> {"stage": name} | {"dir": path} | {"hub": id} | {"config": {...}}
                        # (a list of those for a ref the kind lets list several models: kinds.Kind.many)
    data: dict | None
    train: dict
    peft: dict | None
    options: dict

    def each_ref(self) -> list[tuple[str, dict]]:
        """(key, ref) for every model the stage names, a listed ref once per entry."""
        return [(key, one) for key, ref in self.refs.items() for one in (ref if isinstance(ref, list) else [ref])]


@dataclass
class Recipe:
    name: str
    seed: int
    output_dir: str
    defaults: dict
    stages: list[Stage]
    source: str                      # the file it came from, or "<dict>"
    raw: dict = field(repr=False)    # the recipe as written, overrides applied

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def fingerprint(self) -> str:
        """A hash of the recipe as run: reruns into a run dir must match it."""
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True).encode()).hexdigest()[:16]


def load_recipe(source: str | Path | dict, overrides: list[str] | dict | None = None) -> Recipe:
    """Read, override and validate a recipe; raise RecipeErrors listing every problem."""
    if isinstance(source, dict):
        raw, lines, name = copy.deepcopy(source), {}, "<dict>"
    else:
        raw, lines, name = _read_yaml(Path(source))
    problems = Problems(name, lines)
    _apply_overrides(raw, overrides or [], problems)
    problems.raise_if_any()
    recipe = _validate(raw, problems)
    problems.raise_if_any()
    return recipe


# --- reading ---------------------------------------------------------------------------------------------------


def _read_yaml(path: Path) -> tuple[dict, dict, str]:
    """Parse YAML safely and map every key path to its line number."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{name}: no such recipe file") from None
    except UnicodeDecodeError:
        raise UserError(f"{name}: not valid UTF-8") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        raise UserError(f"{where}: invalid YAML: {getattr(e, 'problem', None) or e}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{name}: a recipe is a YAML mapping with name, stages, ...; got {type(raw).__name__}")
    lines: dict = {}
    duplicates: list[str] = []
    _map_lines(node, (), lines, duplicates)
    if duplicates:
        raise RecipeErrors([f"{name}:{d}" for d in duplicates])
    return raw, lines, name


def _map_lines(node, path: tuple, lines: dict, duplicates: list) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key, value in node.value:
            child = path + (key.value,)
            if key.value in seen:
                duplicates.append(f"{key.start_mark.line + 1}: {fmt_path(child)}: key appears twice. Keep one")
            seen.add(key.value)
            lines[child] = key.start_mark.line + 1
            _map_lines(value, child, lines, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _map_lines(item, path + (i,), lines, duplicates)


def fmt_path(path: tuple) -> str:
    """('stages', 2, 'train', 'lr') -> 'stages[2].train.lr'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class Problems:
    """Collects `file:line: key.path: message` lines."""

    def __init__(self, source: str, lines: dict):
        self.source, self.lines, self.messages = source, lines, []

    def add(self, path: tuple, message: str) -> None:
        line = next((self.lines[path[:n]] for n in range(len(path), -1, -1) if path[:n] in self.lines), None)
        where = f"{self.source}:{line}" if line else self.source
        self.messages.append(f"{where}: {fmt_path(path) or '(recipe)'}: {message}")

    def raise_if_any(self) -> None:
        if self.messages:
            raise RecipeErrors(self.messages)


# --- overrides -------------------------------------------------------------------------------------------------


def _apply_overrides(raw: dict, overrides, problems: Problems) -> None:
    """Apply `key.path=value` overrides; `stages.NAME.` addresses a stage by name."""
    items = overrides.items() if isinstance(overrides, dict) else (_split_override(o) for o in overrides)
    for key, value in items:
        if key is None:
            problems.messages.append(f"override {value!r}: expected key.path=value, e.g. stages.sft.train.learning_rate=1e-4")
            continue
        parts = key.split(".")
        target = raw
        if parts[0] == "stages" and len(parts) > 2:
            names = [s.get("name") for s in raw.get("stages") or [] if isinstance(s, dict)]
            if parts[1] not in names:
                hint = suggest(parts[1], names)
                problems.messages.append(f"override {key}: no stage named {parts[1]!r}{hint}. Stages: {', '.join(map(str, names))}")
                continue
            target, parts = raw["stages"][names.index(parts[1])], parts[2:]
        for part in parts[:-1]:
            if not isinstance(target.get(part, {}), dict):
                problems.messages.append(f"override {key}: {part} is not a mapping")
                break
            target = target.setdefault(part, {})
        else:
            target[parts[-1]] = value


def _split_override(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key:
        return None, text
    return key.strip(), yaml.safe_load(value) if value.strip() else ""


# --- validation ------------------------------------------------------------------------------------------------


def _validate(raw: dict, problems: Problems) -> Recipe:
    for key, value in raw.items():
        if key not in TOP_KEYS:
            problems.add((key,), f"unknown key{suggest(key, TOP_KEYS)}. Top-level keys: {', '.join(TOP_KEYS)}")
        elif (msg := check_value(value, TOP_KEYS[key])) is not None:
            problems.add((key,), msg)
    name = raw.get("name")
    if not name:
        problems.add(("name",), "missing. Give the recipe a name, e.g. name: my-run")
    defaults = raw.get("defaults") if isinstance(raw.get("defaults"), dict) else {}
    for key in defaults:
        if key != "train":
            problems.add(("defaults", key), f"unknown key{suggest(key, ['train'])}. defaults holds train: only")
    default_train = defaults.get("train") or {}
    if not isinstance(default_train, dict):
        problems.add(("defaults", "train"), "expected a mapping of TrainingArguments fields")
        default_train = {}
    _check_fields(default_train, "TrainingArguments", ("defaults", "train"), problems)
    stages = raw.get("stages")
    if not isinstance(stages, list) or not stages:
        problems.add(("stages",), "missing or empty. List the stages to run, in order")
        stages = []
    seen: list[str] = []
    all_names = [s.get("name") for s in stages if isinstance(s, dict)]
    parsed = [_validate_stage(s, i, seen, all_names, problems) for i, s in enumerate(stages)]
    check_stage_refs(parsed, problems.add)   # refs name the right kinds of stage (e.g. ppo reward_model: a reward stage)
    return Recipe(name=str(name), seed=raw.get("seed", 42) if isinstance(raw.get("seed", 42), int) else 42,
                  output_dir=str(raw.get("output_dir") or f"runs/{name}"), defaults=default_train,
                  stages=[s for s in parsed if s], source=problems.source, raw=raw)


def _validate_stage(raw, i: int, seen: list[str], all_names: list, problems: Problems) -> Stage | None:
    at = ("stages", i)
    if not isinstance(raw, dict):
        problems.add(at, "a stage is a mapping with name, kind, ...")
        return None
    name, kind_name = raw.get("name"), raw.get("kind")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][\w\-]*", name):
        problems.add(at + ("name",), f"{name!r} is not a valid stage name: use letters, digits, - and _")
    elif name in seen:
        problems.add(at + ("name",), f"duplicate stage name {name!r}. Stage names must be unique")
    if kind_name not in KINDS:
        problems.add(at + ("kind",), f"unknown stage kind {kind_name!r}{suggest(str(kind_name), KINDS)}. Kinds: {', '.join(KINDS)}")
        seen.append(name)
        return None
    kind = KINDS[kind_name]
    allowed = stage_keys(kind)
    for key in raw:
        if key not in allowed:
            problems.add(at + (key,), f"not a key of a {kind_name} stage{suggest(key, allowed)}. Keys: {', '.join(sorted(allowed))}")
    options = {}
    for key, spec in kind.options.items():
        if key in raw:
            if isinstance(spec, dict):
                _check_mapping(raw[key], spec, at + (key,), problems)
            elif (msg := check_value(raw[key], spec)) is not None:
                problems.add(at + (key,), msg)
            options[key] = raw[key]
    refs = {}
    for key in (k for k in kind.refs if k in raw):
        many = key in kind.many and isinstance(raw[key], list)   # e.g. reward_model: [reward, other_reward]
        refs[key] = [_check_ref(v, at + (key, n), seen, all_names, problems) for n, v in enumerate(raw[key])] \
            if many else _check_ref(raw[key], at + (key,), seen, all_names, problems)
    for key in kind.needs:
        if key not in raw:
            problems.add(at + (key,), f"missing. A {kind_name} stage needs {key}: (an earlier stage, a local folder or a Hub id)")
    train = raw.get("train") or {}
    if not isinstance(train, dict):
        problems.add(at + ("train",), f"expected a mapping of {kind.config_name} fields")
        train = {}
    if kind.config:
        _check_fields(train, kind.config_name, at + ("train",), problems)
    peft = raw.get("peft")
    if peft is not None:
        if isinstance(peft, dict):
            _check_fields(peft, "LoraConfig", at + ("peft",), problems)
        else:
            problems.add(at + ("peft",), "expected a mapping of LoraConfig fields, e.g. {r: 8, lora_alpha: 16}")
    data = data_refs.check_block(raw.get("data"), kind, at + ("data",), problems.add)
    if data is None and kind_name not in RL_KINDS and "data" not in raw:
        problems.add(at + ("data",), f"missing. A {kind_name} stage needs data: {{path: ...}}")
    seen.append(name)
    return Stage(name=name, kind=kind_name, refs=refs, data=data, train=train, peft=peft, options=options)


def _check_fields(values: dict, config: str, at: tuple, problems: Problems) -> None:
    """Check keys and value types against a config class's fields."""
    fields = config_fields(config)
    if fields is None:   # the installed libraries lack the class (PPOConfig on TRL >= 1.13): handoff says so
        return
    for key, value in values.items():
        if value is False and "no" in fields.get(key, {}).get("choices", ()):
            values[key] = value = "no"   # YAML 1.1 reads `eval_strategy: no` as false
        if key not in fields:
            problems.add(at + (key,), f"not a field of {config}{suggest(key, fields)}")
        elif (msg := check_value(value, fields[key])) is not None:
            problems.add(at + (key,), msg)
        elif fields[key]["type"] == "float" and isinstance(value, str):
            values[key] = float(value)   # YAML reads 1e-4 as a string; the field wants a float


def _check_mapping(value, spec: dict, at: tuple, problems: Problems) -> None:
    """A mapping option (e.g. seq2seq generation:): only the keys in `spec`, each value of its type."""
    if not isinstance(value, dict):
        problems.add(at, f"expected a mapping of {', '.join(spec)}")
        return
    for key, item in value.items():
        if key not in spec:
            problems.add(at + (key,), f"unknown setting{suggest(key, spec)}. Settings: {', '.join(spec)}")
        elif (msg := check_value(item, spec[key])) is not None:
            problems.add(at + (key,), msg)
        elif spec[key] == "float" and isinstance(item, str):
            value[key] = float(item)


def _check_ref(value, at: tuple, seen: list[str], all_names: list, problems: Problems) -> dict | None:
    """Classify a model/tokenizer reference: earlier stage, local folder, Hub id or a tiny config."""
    if isinstance(value, dict):
        return _check_config_ref(value, at, problems)
    if not isinstance(value, str) or not value:
        problems.add(at, "expected a stage name, a local folder, a Hub id or {from_config: TYPE, ...}")
        return None
    if value in seen:
        return {"stage": value}
    if value in all_names:
        problems.add(at, f"stage {value!r} runs later. A stage can only use stages before it")
        return None
    if Path(value).is_dir():
        return {"dir": value}
    if value.startswith((".", "/", "~")) or not HUB_ID.match(value):
        hint = suggest(value, seen)
        problems.add(at, f"{value!r} is neither an earlier stage{hint} nor a local folder nor a Hub id")
        return None
    return {"hub": value}


def _check_config_ref(value: dict, at: tuple, problems: Problems) -> dict | None:
    from hfpipeline.schema import model_config_keys

    extra = {k: v for k, v in value.items() if k not in ("from_config", "trust_remote_code", "revision", "path")}
    if "path" in value:
        if extra:
            problems.add(at + (next(iter(extra)),), "with path:, only trust_remote_code and revision may be given")
        if not isinstance(value["path"], str):
            problems.add(at + ("path",), "expected a folder or Hub id")
            return None
        return {"dir" if Path(value["path"]).is_dir() else "hub": value["path"],
                **{k: value[k] for k in ("trust_remote_code", "revision") if k in value}}
    model_type = value.get("from_config")
    types = model_config_keys()
    if model_type not in types:
        problems.add(at + ("from_config",), f"{model_type!r} is not a supported tiny-model type{suggest(str(model_type), types)}. Types: {', '.join(types)}")
        return None
    for key in extra:
        if key not in types[model_type]:
            problems.add(at + (key,), f"not a {model_type} config field{suggest(key, types[model_type])}")
        elif not isinstance(extra[key], (int, float, str, bool, list)):
            problems.add(at + (key,), f"expected a number, string, boolean or list, got {type(extra[key]).__name__}")
    return {"config": {"model_type": model_type, **extra}}

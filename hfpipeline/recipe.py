"""Recipe files: YAML -> validated `Recipe`, with every problem reported at once as `file:line: key.path: ...`.

Nothing here imports torch or transformers: `hfpipeline validate` stays instant.
"""

import copy
import hashlib
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hfpipeline import data_refs
from hfpipeline.errors import RecipeErrors, UserError
from hfpipeline.handoff import RL_KINDS, check_stage_refs
from hfpipeline.kinds import KINDS, stage_keys
from hfpipeline.schema import check_range, check_value, config_fields, config_ref_problems, suggest

TOP_KEYS = {"name": "str", "seed": "int", "output_dir": "str", "defaults": "dict", "stages": "list"}
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
MAX_STEPS = 10_000_000  # more optimizer steps than this from epochs x rows: warned about as a likely typo
MAX_NODES = 100_000  # YAML values after alias expansion: real recipes hold hundreds
SECRET = re.compile(r"token(?!izer|s\b|_id)|password|secret", re.IGNORECASE)  # hub_token, not tokenizer:
SECRET_VALUE = re.compile(r"'[^']*'|\"[^\"]*\"")  # quoted values in a message (a token is text)
TOKENIZER_SET = ("vocab_size", "pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id")
BYTE_ALPHABET = 256  # byte-level BPE always keeps the 256 byte tokens, whatever vocab_size says


@dataclass
class Stage:
    name: str
    kind: str
    refs: dict  # ref key -> {"stage": name} | {"dir": path} | {"hub": id} | {"config": {...}}
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
    source: str  # the file it came from, or "<dict>"
    raw: dict = field(repr=False)  # the recipe as written, overrides applied
    warnings: list[str] = field(default_factory=list)  # legal but suspicious values, file:line: key: message

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def train_for(self, stage: Stage) -> dict:
        """The train: settings the recipe gives a stage: defaults.train, under the stage's own train:."""
        return {**self.defaults, **stage.train}

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
    recipe.warnings = problems.warnings
    for warning in problems.warnings:
        print(warning, file=sys.stderr)
    return recipe


def redact(obj):
    """A copy of `obj` with the value of every key naming a token, password or secret replaced by ***."""
    if isinstance(obj, dict):
        return {
            k: "***" if isinstance(k, str) and SECRET.search(k) and v not in (None, "") else redact(v)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


# --- reading ---------------------------------------------------------------------------------------------------


def _read_yaml(path: Path) -> tuple[dict, dict, str]:
    """Parse YAML safely and map every key path to its line number."""
    name = str(path)
    if path.is_dir():
        raise UserError(f"{name}: is a folder, not a recipe file. Give the YAML file, e.g. {name}/recipe.yaml")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{name}: no such recipe file") from None
    except UnicodeDecodeError:
        raise UserError(f"{name}: not valid UTF-8") from None
    except OSError as e:
        raise UserError(f"{name}: cannot read the recipe ({e.strerror})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _check_size(node, name)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        raise UserError(f"{where}: invalid YAML: {getattr(e, 'problem', None) or e}") from None
    except RecursionError:
        raise UserError(f"{name}: invalid YAML: nested too deep") from None
    if not isinstance(raw, dict):
        raise UserError(f"{name}: a recipe is a YAML mapping with name, stages, ...; got {type(raw).__name__}")
    lines: dict = {}
    duplicates: list[str] = []
    _map_lines(node, (), lines, duplicates)
    if duplicates:
        raise RecipeErrors([f"{name}:{d}" for d in duplicates])
    return raw, lines, name


def _check_size(node, name: str) -> None:
    """Refuse a document whose aliases expand to more than MAX_NODES nodes ("billion laughs": 1 KB of YAML that
    grows to gigabytes) or that contains itself (`a: &x [*x]`), before anything walks or copies it."""
    sizes: dict = {}

    def size(n, open_: set) -> int:
        if id(n) in sizes:
            return sizes[id(n)]
        if id(n) in open_:
            raise UserError(
                f"{name}:{n.start_mark.line + 1}: invalid YAML: an alias refers to the node that "
                "contains it (a structure inside itself)"
            )
        open_.add(id(n))
        children = (
            (c for pair in n.value for c in pair)
            if isinstance(n, yaml.MappingNode)
            else (n.value if isinstance(n, yaml.SequenceNode) else ())
        )
        total = 1
        for child in children:
            total += size(child, open_)
            if total > MAX_NODES:
                raise UserError(
                    f"{name}: invalid YAML: its aliases (*name) expand to more than {MAX_NODES:,} "
                    "values. Write the values out instead"
                )
        open_.discard(id(n))
        sizes[id(n)] = total
        return total

    size(node, set())


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
        self.source, self.lines, self.messages, self.warnings = source, lines, [], []

    def add(self, path: tuple, message: str) -> None:
        self.messages.append(self._where(path, message))

    def warn(self, path: tuple, message: str) -> None:
        """A legal but suspicious value: printed, not an error."""
        self.warnings.append(self._where(path, f"warning: {message}"))

    def check(self, value, scope: str, path: tuple) -> None:
        """Report `value` (already of the right type) if out of its range in `scope`; warn if absurd."""
        problem, warning = check_range(value, scope, path[-1])
        if problem:
            self.add(path, problem)
        elif warning:
            self.warn(path, warning)

    def _where(self, path: tuple, message: str) -> str:
        if path and isinstance(path[-1], str) and SECRET.search(path[-1]):
            message = SECRET_VALUE.sub("***", message)  # never echo a token into a terminal or a log
        line = next((self.lines[path[:n]] for n in range(len(path), -1, -1) if path[:n] in self.lines), None)
        where = f"{self.source}:{line}" if line else self.source
        return f"{where}: {fmt_path(path) or '(recipe)'}: {message}"

    def raise_if_any(self) -> None:
        if self.messages:
            raise RecipeErrors(self.messages)


# --- overrides -------------------------------------------------------------------------------------------------


def _apply_overrides(raw: dict, overrides, problems: Problems) -> None:
    """Apply `key.path=value` overrides; `stages.NAME.` addresses a stage by name."""
    items = overrides.items() if isinstance(overrides, dict) else (_split_override(o) for o in overrides)
    for key, value in items:
        if key is None:
            problems.messages.append(value)
            continue
        parts = key.split(".")
        target = raw
        if parts[0] == "stages" and len(parts) > 2:
            names = [s.get("name") for s in raw.get("stages") or [] if isinstance(s, dict)]
            if parts[1] not in names:
                hint = suggest(parts[1], names)
                problems.messages.append(
                    f"override {key}: no stage named {parts[1]!r}{hint}. Stages: {', '.join(map(str, names))}"
                )
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
    """(key, parsed value), or (None, why not) for a malformed override."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        return None, f"override {text!r}: expected key.path=value, e.g. stages.sft.train.learning_rate=1e-4"
    if SECRET.search(key):
        text = f"{key}=***"
    if not value.strip():
        return None, f"override {text!r}: empty value. Give one after '=', e.g. {key.strip()}=VALUE (or null)"
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as e:
        why = getattr(e, "problem", None) or e
        value = "***" if SECRET.search(key) else value
        return None, f"override {text!r}: {value!r} is not a valid YAML value ({why}). Quote it if it is text"


# --- validation ------------------------------------------------------------------------------------------------


def _validate(raw: dict, problems: Problems) -> Recipe:
    for key, value in raw.items():
        if key not in TOP_KEYS:
            problems.add((key,), f"unknown key{suggest(key, TOP_KEYS)}. Top-level keys: {', '.join(TOP_KEYS)}")
        elif (msg := check_value(value, TOP_KEYS[key])) is not None:
            problems.add((key,), msg)
        else:
            problems.check(value, "recipe", (key,))
    name = raw.get("name")
    if not name:
        problems.add(("name",), "missing. Give the recipe a name, e.g. name: my-run")
    if isinstance(raw.get("output_dir"), str):
        _check_output_dir(raw["output_dir"], problems)
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
    parsed = [_validate_stage(s, i, seen, all_names, problems, default_train) for i, s in enumerate(stages)]
    check_stage_refs(parsed, problems.add)  # refs name the right kinds of stage (e.g. ppo reward_model: a reward stage)
    return Recipe(
        name=str(name),
        seed=raw.get("seed", 42) if isinstance(raw.get("seed", 42), int) else 42,
        output_dir=str(raw.get("output_dir") or f"runs/{name}"),
        defaults=default_train,
        stages=[s for s in parsed if s],
        source=problems.source,
        raw=raw,
    )


def _check_output_dir(value: str, problems: Problems) -> None:
    """The run directory must be (or be creatable as) a writable folder."""
    if not value.strip():
        problems.add(("output_dir",), "empty. Give a folder, e.g. output_dir: runs/my-run")
        return
    path = Path(value).expanduser()
    existing = next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor or "."))
    if existing.exists() and not existing.is_dir():
        what = "is a file" if existing == path else f"is inside {existing}, which is a file"
        problems.add(("output_dir",), f"{value}: {what}, not a folder. Set output_dir to a folder")
    elif existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        problems.add(
            ("output_dir",),
            f"{value}: cannot write in {existing} (read-only or no permission). Set output_dir=A_WRITABLE_FOLDER",
        )


def _validate_stage(
    raw, i: int, seen: list[str], all_names: list, problems: Problems, defaults: dict | None = None
) -> Stage | None:
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
        problems.add(
            at + ("kind",),
            f"unknown stage kind {kind_name!r}{suggest(str(kind_name), KINDS)}. Kinds: {', '.join(KINDS)}",
        )
        seen.append(name)
        return None
    kind = KINDS[kind_name]
    allowed = stage_keys(kind)
    for key in raw:
        if key not in allowed:
            problems.add(
                at + (key,),
                f"not a key of a {kind_name} stage{suggest(key, allowed)}. Keys: {', '.join(sorted(allowed))}",
            )
    options = {}
    for key, spec in kind.options.items():
        if key in raw:
            if isinstance(spec, dict):
                _check_mapping(raw[key], spec, at + (key,), problems)
            elif (msg := check_value(raw[key], spec)) is not None:
                problems.add(at + (key,), msg)
            else:
                problems.check(raw[key], kind_name, at + (key,))
            options[key] = raw[key]
    if kind_name == "tokenizer":
        _check_vocab(options, at, problems)
    refs = {}
    for key in (k for k in kind.refs if k in raw):
        many = key in kind.many and isinstance(raw[key], list)  # e.g. reward_model: [reward, other_reward]
        refs[key] = (
            [_check_ref(v, at + (key, n), seen, all_names, problems) for n, v in enumerate(raw[key])]
            if many
            else _check_ref(raw[key], at + (key,), seen, all_names, problems)
        )
    for key in kind.needs:
        if key not in raw:
            problems.add(
                at + (key,), f"missing. A {kind_name} stage needs {key}: (an earlier stage, a local folder or a Hub id)"
            )
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
    block_size = raw.get("block_size") if kind_name == "pretrain" else None
    stats: dict = {}
    data = data_refs.check_block(raw.get("data"), kind, at + ("data",), problems.add, problems.warn, block_size, stats)
    if kind.config and stats.get("rows") and not problems.messages:
        _warn_steps(stats["rows"], {**(defaults or {}), **train}, at + ("train",), problems)
    if data is None and kind_name not in RL_KINDS and "data" not in raw:
        problems.add(at + ("data",), f"missing. A {kind_name} stage needs data: {{path: ...}}")
    seen.append(name)
    return Stage(name=name, kind=kind_name, refs=refs, data=data, train=train, peft=peft, options=options)


def _check_fields(values: dict, config: str, at: tuple, problems: Problems) -> None:
    """Check keys and value types against a config class's fields."""
    fields = config_fields(config)
    if fields is None:  # the installed libraries lack the class (PPOConfig on TRL >= 1.13): handoff says so
        return
    for key, value in values.items():
        if value is False and "no" in fields.get(key, {}).get("choices", ()):
            values[key] = value = "no"  # YAML 1.1 reads `eval_strategy: no` as false
        if key not in fields:
            problems.add(at + (key,), f"not a field of {config}{suggest(key, fields)}")
        elif (msg := check_value(value, fields[key])) is not None:
            problems.add(at + (key,), msg)
        else:
            problems.check(value, config, at + (key,))
            if fields[key]["type"] == "float" and isinstance(value, str):
                values[key] = float(value)  # YAML reads 1e-4 as a string; the field wants a float


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
        else:
            problems.check(item, at[-1], at + (key,))
            if spec[key] == "float" and isinstance(item, str):
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
        return {
            "dir" if Path(value["path"]).is_dir() else "hub": value["path"],
            **{k: value[k] for k in ("trust_remote_code", "revision") if k in value},
        }
    model_type = value.get("from_config")
    types = model_config_keys()
    if model_type not in types:
        problems.add(
            at + ("from_config",),
            f"{model_type!r} is not a supported tiny-model type{suggest(str(model_type), types)}. "
            f"Types: {', '.join(types)}",
        )
        return None
    for key in extra:
        if key in TOKENIZER_SET:
            problems.add(at + (key,), "is taken from the tokenizer (tokenizer:). Remove it, or change the tokenizer")
        elif key not in types[model_type]:
            problems.add(at + (key,), f"not a {model_type} config field{suggest(key, types[model_type])}")
        elif not isinstance(extra[key], (int, float, str, bool, list)):
            problems.add(at + (key,), f"expected a number, string, boolean or list, got {type(extra[key]).__name__}")
    for key, problem in config_ref_problems(model_type, extra):
        problems.add(at + (key,), problem)
    return {"config": {"model_type": model_type, **extra}}


def _warn_steps(rows: int, train: dict, at: tuple, problems: Problems) -> None:
    """Warn when num_train_epochs x rows asks for more than MAX_STEPS optimizer steps (a typo, surely)."""
    numbers = {
        k: train.get(k, d)
        for k, d in (
            ("num_train_epochs", 3),
            ("per_device_train_batch_size", 8),
            ("gradient_accumulation_steps", 1),
            ("max_steps", -1),
        )
    }
    try:
        epochs, batch, accumulation, max_steps = (float(v) for v in numbers.values())
    except (TypeError, ValueError):
        return
    batch *= accumulation
    steps = math.ceil(rows / max(batch, 1)) * epochs
    if max_steps <= 0 and steps > MAX_STEPS and check_range(epochs, "train", "num_train_epochs")[1] is None:
        problems.warn(
            at + ("num_train_epochs",),
            f"{epochs:g} epochs of {rows:,} rows at batch {batch:g} is about "
            f"{steps:,.0f} steps, more than {MAX_STEPS:,}. Is it a typo?",
        )


def _check_vocab(options: dict, at: tuple, problems: Problems) -> None:
    """A tokenizer's vocabulary must hold its special tokens and more; byte-level BPE silently keeps 256 bytes."""
    from hfpipeline.stages.tokenizer import SPECIALS  # a light module: its libraries load when it runs

    size, kind = options.get("vocab_size"), options.get("type", "bpe")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1 or kind not in SPECIALS:
        return
    specials = len(set(SPECIALS[kind].values()))
    if size <= specials:
        problems.add(
            at + ("vocab_size",),
            f"{size} is too small for a {kind} tokenizer: its {specials} special "
            f"tokens leave no room for text. Use >= {specials + 1}",
        )
    elif kind == "bpe" and size < BYTE_ALPHABET + specials:
        problems.warn(
            at + ("vocab_size",),
            f"{size} is below byte-level BPE's {BYTE_ALPHABET} byte tokens + "
            f"{specials} special tokens: the vocabulary will hold "
            f"{BYTE_ALPHABET + specials}",
        )

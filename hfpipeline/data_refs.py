"""Data blocks of a recipe: resolve `demo:NAME` and local paths, and check files cheaply (no `datasets` import)."""

import csv
from pathlib import Path

from hfpipeline import feedback
from hfpipeline.errors import UserError
from hfpipeline.files import iter_jsonl
from hfpipeline.kinds import DATA_KEYS, Kind
from hfpipeline.schema import check_value, suggest

DEMO_DIR = Path(__file__).with_name("demo")
FORMATS = (".jsonl", ".json", ".csv", ".parquet")
SPLITS = ("train", "validation", "test")
RANKED_COLUMNS = ("prompt", "responses", "ranking")   # a row ranking K responses (kinds that take preferences)
SCAN_LINES = 1_000_000  # longer JSONL files are only checked on their first lines
SCAN_BYTES = 64 * 1024 * 1024  # and CSV files on their first bytes


def demo_names() -> list[str]:
    """Names usable as demo:NAME."""
    return sorted(p.stem for p in DEMO_DIR.glob("*.jsonl"))


def resolve_path(path: str) -> Path:
    """demo:NAME -> the shipped file; anything else is a path relative to the working directory."""
    if path.startswith("demo:"):
        return DEMO_DIR / f"{path[5:]}.jsonl"
    return Path(path).expanduser()


def check_block(raw, kind: Kind, at: tuple, add) -> dict | None:
    """Validate a stage's data block; report problems through add(path, message); return it normalised."""
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict):
        add(at, "expected {path: FILE} or a path string")
        return None
    # a tokenizer learns from text columns: its text_field may list several
    allowed = {**DATA_KEYS, **{k: "str|list" if kind.config is None and k == "text_field" else "str" for k in kind.fields}}
    for key, value in raw.items():
        if key not in allowed:
            add(at + (key,), f"not a data key{suggest(key, allowed)}. Keys: {', '.join(sorted(allowed))}")
        elif value is not None and (msg := check_value(value, allowed[key])) is not None:
            add(at + (key,), msg)
    for key in ("validation_size", "test_size"):
        size = raw.get(key)
        if isinstance(size, (int, float)) and not isinstance(size, bool) and not (0 < size < 1 or (isinstance(size, int) and size >= 1)):
            add(at + (key,), f"{size!r} must be a fraction in (0, 1) or a row count >= 1")
    block = {**kind.fields, **raw}
    if ("path" in raw) == ("hub" in raw):
        add(at, "give exactly one of path: (demo:NAME, a file or folder) or hub: (a Hub dataset id)")
        return block
    if "path" in raw:
        files = raw["path"] if isinstance(raw["path"], dict) else {"train": raw["path"]}
        for split, path in files.items():
            where = at + ("path", split) if isinstance(raw["path"], dict) else at + ("path",)
            if split not in SPLITS:
                add(where, f"unknown split{suggest(split, SPLITS)}. Splits: {', '.join(SPLITS)}")
            elif not isinstance(path, str):
                add(where, "expected a file path")
            else:
                _check_file(path, block, kind, where, add)
    return block


def _check_file(path: str, block: dict, kind: Kind, at: tuple, add) -> None:
    file = resolve_path(path)
    if path.startswith("demo:") and not file.is_file():
        add(at, f"no demo dataset {path[5:]!r}{suggest(path[5:], demo_names())}. Demo datasets: {', '.join(demo_names())}")
        return
    if not file.exists():
        add(at, f"{path}: no such file or folder")
        return
    if file.is_dir():
        return
    if file.suffix not in FORMATS:
        add(at, f"{path}: unsupported format {file.suffix!r}. Use one of {', '.join(FORMATS)}")
        return
    ranked = RANKED_COLUMNS in kind.columns
    if ranked and file.suffix == ".jsonl" and feedback.labels_path_for(file).is_file():
        _check_ranked(feedback.load_ranked, file, at, add)   # a labelling batch with its labels beside it
        return
    if file.suffix in (".jsonl", ".csv"):
        try:
            columns = _scan(file)
        except ValueError as e:
            add(at, str(e))
            return
        if ranked and "responses" in columns and "ranking" not in columns and "id" in columns:
            add(at, f"{path}: a labelling batch without labels ({feedback.labels_path_for(file).name} not found). "
                    f"Label it first: hfpipeline label {path}")
        elif ranked and file.suffix == ".jsonl" and {"responses", "ranking"} & columns:
            _check_ranked(feedback.check_ranked_file, file, at, add)
        else:
            _check_columns(columns, block, kind, path, at, add)


def _check_ranked(check, file: Path, at: tuple, add) -> None:
    """Validate ranked data row by row with `check` (hfpipeline.feedback); report its file:line message."""
    try:
        check(file)
    except UserError as e:
        add(at, str(e))


def _scan(file: Path) -> set[str]:
    """Columns of the first row; raises ValueError naming file:line for bad UTF-8, bad JSON, or no rows."""
    columns, rows = None, 0
    with open(file, "rb") as f:
        if file.suffix == ".csv":
            head = f.read(SCAN_BYTES)
            try:
                reader = csv.DictReader(head.decode("utf-8").splitlines())
            except UnicodeDecodeError as e:
                line = head[: e.start].count(b"\n") + 1
                raise ValueError(f"{file}:{line}: not valid UTF-8. Re-save the file as UTF-8") from None
            columns = set(reader.fieldnames or ())
            rows = sum(1 for _ in reader)
        else:
            try:
                for lineno, row in iter_jsonl(file):
                    columns = set(row) if columns is None else columns
                    rows += 1
                    if lineno >= SCAN_LINES:
                        break
            except UserError as e:
                raise ValueError(str(e)) from None
    if not rows:
        raise ValueError(f"{file}: no rows. The file is empty")
    return columns


def _check_columns(columns: set, block: dict, kind: Kind, path: str, at: tuple, add) -> None:
    """One of the kind's column sets must be present, after the recipe's *_field renames."""
    def actual(canonical: str) -> str:
        return block.get(f"{canonical}_field") or canonical

    def expand(names: list) -> list[str]:   # a listed text_field stands for several columns
        return [c for name in names for c in (name if isinstance(name, list) else [name])]

    alternatives = [expand([actual(c) for c in alt]) for alt in kind.columns]
    if block.get("text_pair_field"):
        alternatives = [alt + [block["text_pair_field"]] for alt in alternatives]
    if alternatives and not any(all(c in columns for c in alt) for alt in alternatives):
        want = " or ".join("+".join(alt) for alt in alternatives)
        canonical = next((c for c in kind.columns[0] if not set(expand([actual(c)])) <= columns), kind.columns[0][0])
        missing = next((c for c in expand([actual(canonical)]) if c not in columns), actual(canonical))
        fix = (f"Map it with {canonical}_field: COLUMN" if f"{canonical}_field" in kind.fields
               else "Rename the column in the file")
        add(at, f"{path}: missing column {missing!r} (needs {want}; has {', '.join(sorted(columns))}). {fix}")

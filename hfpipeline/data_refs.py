"""Data blocks of a recipe: resolve `demo:NAME` and local paths, and check every row of local files (no `datasets`
import; parquet files are checked from their schema and metadata): columns present and of the right type, chats
well formed, CSV rows not ragged, enough rows for the splits asked."""

import csv
import math
from pathlib import Path

from hfpipeline import feedback
from hfpipeline.errors import UserError
from hfpipeline.files import iter_jsonl
from hfpipeline.kinds import DATA_KEYS, KINDS, Kind
from hfpipeline.schema import check_range, check_value, suggest

DEMO_DIR = Path(__file__).with_name("demo")
FORMATS = (".jsonl", ".json", ".csv", ".parquet")
SPLITS = ("train", "validation", "test")
RANKED_COLUMNS = ("prompt", "responses", "ranking")  # a row ranking K responses (kinds that take preferences)
ROLES = ("system", "user", "assistant", "tool")
# What each canonical column holds: text (a string), chat (a list of {role, content} with an assistant turn),
# prompt chat (no assistant turn needed), a class label (an int or a string); null where the stage drops empty rows.
COLUMN_TYPES = {
    "text": ("text",),
    "source": ("text", "null"),
    "target": ("text", "null"),
    "text_pair": ("text",),
    "label": ("label",),
    "messages": ("chat",),
    "prompt": ("text", "prompt chat"),
    "completion": ("text", "chat"),
    "chosen": ("text", "chat"),
    "rejected": ("text", "chat"),
}
MIN_TRAIN_ROWS = {"classify": 2}  # rows train must keep after the validation share is held out (default 1)
ALWAYS_HELD_OUT = ("pretrain", "classify", "reward")  # sft/dpo hold none out without evaluation, ppo none with
# eval_prompts: their share is not counted on


def demo_names() -> list[str]:
    """Names usable as demo:NAME."""
    return sorted(p.stem for p in DEMO_DIR.glob("*.jsonl"))


def resolve_path(path: str) -> Path:
    """demo:NAME -> the shipped file; anything else is a path relative to the working directory."""
    if path.startswith("demo:"):
        return DEMO_DIR / f"{path[5:]}.jsonl"
    return Path(path).expanduser()


def check_block(
    raw, kind: Kind, at: tuple, add, warn=None, block_size: int | None = None, stats: dict | None = None
) -> dict | None:
    """Validate a stage's data block; report problems through add(path, message) and suspicious but legal data
    through warn(path, message); return the block normalised. `block_size`: train needs text for one block;
    `stats` receives the train split's {rows, chars} when they are known."""
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict):
        add(at, "expected {path: FILE} or a path string")
        return None
    # a tokenizer learns from text columns: its text_field may list several
    allowed = {
        **DATA_KEYS,
        **{k: "str|list" if kind.config is None and k == "text_field" else "str" for k in kind.fields},
    }
    for key, value in raw.items():
        if key not in allowed:
            add(at + (key,), f"not a data key{suggest(key, allowed)}. Keys: {', '.join(sorted(allowed))}")
        elif (
            msg := (check_value(value, allowed[key]) if value is not None else None)
            or check_range(value, "data", key)[0]
        ) is not None:
            add(at + (key,), msg)
    for key in ("validation_size", "test_size"):
        size = raw.get(key)
        if (
            isinstance(size, (int, float))
            and not isinstance(size, bool)
            and not (0 < size < 1 or (isinstance(size, int) and size >= 1))
        ):
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
                found = _check_path(path, block, kind, where, add, warn)
                if split == "train" and found:
                    _check_enough(found, block, kind, files, where, add, block_size)
                    if stats is not None:
                        stats.update(found)
    return block


def _check_path(path: str, block: dict, kind: Kind, at: tuple, add, warn) -> dict | None:
    """Check a data file, or every data file of a folder; {rows, chars} of what was read, None if unknown or bad."""
    file = resolve_path(path)
    if path.startswith("demo:") and not file.is_file():
        add(
            at,
            f"no demo dataset {path[5:]!r}{suggest(path[5:], demo_names())}. Demo datasets: {', '.join(demo_names())}",
        )
        return None
    if not file.exists():
        add(at, f"{path}: no such file or folder")
        return None
    if not file.is_dir():
        return _check_file(file, path, block, kind, at, add, warn)
    if (file / "dataset_info.json").exists() or (file / "state.json").exists():
        return None  # a save_to_disk folder: datasets checks it on load
    found = sorted(f for f in file.rglob("*") if f.suffix in FORMATS and f.is_file() and not f.name.startswith("."))
    if not found:
        add(at, f"{path}: a folder with no data files ({', '.join(FORMATS)}). Put the data files in it, or name a file")
        return None
    total = {"rows": 0, "chars": 0}
    for f in found:
        stats = _check_file(f, str(f), block, kind, at, add, warn)
        if stats is None:
            return None
        total = {k: None if None in (total[k], stats[k]) else total[k] + stats[k] for k in total}  # None: unknown
    return total


def _check_file(file: Path, path: str, block: dict, kind: Kind, at: tuple, add, warn) -> dict | None:
    if file.suffix not in FORMATS:
        add(at, f"{path}: unsupported format {file.suffix!r}. Use one of {', '.join(FORMATS)}")
        return None
    try:
        size = file.stat().st_size
    except OSError as e:
        add(at, f"{path}: cannot read it ({e.strerror})")
        return None
    if size == 0:
        add(at, f"{path}: no rows. The file is empty (0 bytes)")
        return None
    ranked = RANKED_COLUMNS in kind.columns
    if ranked and file.suffix == ".jsonl" and feedback.labels_path_for(file).is_file():
        return _check_ranked(feedback.load_ranked, file, at, add)  # a labelling batch with its labels beside it
    try:
        if file.suffix == ".parquet":
            return _check_parquet(file, path, block, kind, at, add)
        head = _first_row(file)
        if ranked and "responses" in head and "ranking" not in head and "id" in head:
            add(
                at,
                f"{path}: a labelling batch without labels ({feedback.labels_path_for(file).name} not found). "
                f"Label it first: hfpipeline label {path}",
            )
            return None
        if ranked and file.suffix == ".jsonl" and {"responses", "ranking"} & set(head):
            return _check_ranked(feedback.check_ranked_file, file, at, add)
        columns = _needed_columns(set(head), block, kind, path, at, add)
        if columns is None:
            return None
        return _scan_rows(file, columns, at, warn)
    except (ValueError, UserError) as e:
        add(at, str(e))
        return None
    except OSError as e:
        add(at, f"{path}: cannot read it ({e.strerror})")
        return None


def _check_ranked(check, file: Path, at: tuple, add) -> dict | None:
    """Validate ranked data row by row with `check` (hfpipeline.feedback); report its file:line message."""
    try:
        result = check(file)
    except UserError as e:
        add(at, str(e))
        return None
    return {"rows": result if isinstance(result, int) else len(result), "chars": None}


def _rows(file: Path):
    """(line, row dict) of a JSONL, JSON (array) or CSV file; ValueError/UserError name file:line."""
    if file.suffix == ".csv":
        yield from _csv_rows(file)
    elif file.suffix == ".json" and _first_char(file) == b"[":
        yield from _json_array_rows(file)
    else:
        yield from iter_jsonl(file)


def _first_row(file: Path) -> dict:
    for _, row in _rows(file):
        return row
    raise ValueError(f"{file}: no rows. The file is empty")


def _first_char(file: Path) -> bytes:
    with open(file, "rb") as f:
        return f.read(4096).lstrip()[:1]


def _json_array_rows(file: Path):
    import json

    try:
        rows = json.loads(file.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        why = getattr(e, "msg", e)
        raise ValueError(f"{file}: not valid JSON ({why}). Give a JSON array of objects, or JSONL") from None
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise ValueError(f"{file}: item {i} is a {type(row).__name__}, not a JSON object")
        yield i, row


def _csv_rows(file: Path):
    """CSV rows as dicts; a bad byte or a row with more or fewer fields than the header raises ValueError."""

    def lines(f):
        for lineno, raw in enumerate(f, 1):
            try:
                yield raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{file}:{lineno}: not valid UTF-8. Re-save the file as UTF-8") from None

    with open(file, "rb") as f:
        reader = csv.reader(lines(f))
        header = next(reader, None)
        if not header:
            raise ValueError(f"{file}: no header row. The first line names the columns, e.g. text,label")
        try:
            for row in reader:
                if not row:
                    continue  # a blank line
                if len(row) != len(header):
                    raise ValueError(
                        f"{file}:{reader.line_num}: {len(row)} fields, but the header has {len(header)} "
                        f"({','.join(header)}). Quote fields that hold commas"
                    )
                yield reader.line_num, dict(zip(header, row))
        except csv.Error as e:
            raise ValueError(f"{file}:{reader.line_num}: bad CSV ({e})") from None


def _scan_rows(file: Path, columns: dict, at: tuple, warn) -> dict:
    """Stream every row: the needed columns present and of their type; {rows, chars of text}; chosen == rejected
    rows are counted and warned about."""
    rows = chars = same = 0
    texts = [c for c, canonical in columns.items() if "text" in COLUMN_TYPES.get(canonical, ())]
    by_name = {canonical: column for column, canonical in columns.items()}
    pair = (by_name["chosen"], by_name["rejected"]) if "chosen" in by_name and "rejected" in by_name else None
    checks = list(columns.items())
    for lineno, row in _rows(file):
        rows += 1
        for column, canonical in checks:
            if column not in row:
                raise ValueError(f"{file}:{lineno}: no {column!r} column (the first row has it). Every row needs it")
            if problem := _value_problem(row[column], canonical):
                raise ValueError(f"{file}:{lineno}: column {column!r} {problem}")
        for column in texts:
            if type(row[column]) is str:
                chars += len(row[column])
        if pair and row[pair[0]] == row[pair[1]]:
            same += 1
    if not rows:
        raise ValueError(f"{file}: no rows. The file is empty")
    if same and warn:
        warn(at, f"{file}: {same} of {rows} rows have chosen == rejected: they teach nothing. Remove them")
    return {"rows": rows, "chars": chars}


def _value_problem(value, canonical: str) -> str | None:
    """Why `value` cannot be in a `canonical` column (COLUMN_TYPES), or None."""
    accepted = COLUMN_TYPES.get(canonical)
    if accepted is None or (type(value) is str and "text" in accepted) or (value is None and "null" in accepted):
        return None
    if "label" in accepted:
        ok = isinstance(value, (int, str)) and not isinstance(value, bool)
        return None if ok else f"holds {_shown(value)}: a label is an integer or a string"
    chats = [a for a in accepted if a.endswith("chat")]
    if chats and isinstance(value, list):
        return _chat_problem(value, needs_assistant=chats[0] == "chat")
    names = {"text": "text (a string)", "chat": "a list of messages", "prompt chat": "a list of messages"}
    want = " or ".join(dict.fromkeys(names[a] for a in accepted if a in names))
    return f"holds {_shown(value)}: expected {want}"


def _chat_problem(messages: list, needs_assistant: bool) -> str | None:
    """Why a list of messages is not a chat: each {role, content: str}, known roles, an assistant turn."""
    if not messages:
        return "holds an empty list of messages"
    try:  # the common case, in one pass: every message well formed, and an assistant turn if one is needed
        if all(m["role"] in ROLES and type(m["content"]) is str for m in messages) and (
            not needs_assistant or any(m["role"] == "assistant" for m in messages)
        ):
            return None
    except (TypeError, KeyError):
        pass  # a message that is not a mapping with role and content: said below
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            return f'message {i}: expected {{"role": ..., "content": ...}}, got {_shown(m)}'
        if m["role"] not in ROLES:
            return f"message {i}: unknown role {m['role']!r}{suggest(str(m['role']), ROLES)}. Roles: {', '.join(ROLES)}"
        if not isinstance(m["content"], str):
            return f"message {i}: content holds {_shown(m['content'])}, expected a string"
    if needs_assistant and not any(m["role"] == "assistant" for m in messages):
        return "has no assistant message: nothing to learn from. Every chat needs a reply with role assistant"
    return None


def _shown(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def _check_parquet(file: Path, path: str, block: dict, kind: Kind, at: tuple, add) -> dict | None:
    """Schema and row count from the parquet footer; JSON saved as .parquet and truncated files are named."""
    with open(file, "rb") as f:
        start = f.read(4)
        f.seek(-4, 2)
        end = f.read(4)
    if start != b"PAR1" or end != b"PAR1":
        if start.lstrip()[:1] in (b"{", b"["):
            add(at, f"{path}: holds JSON, not parquet. Rename it to .jsonl (or .json)")
        else:
            add(
                at,
                f"{path}: not a parquet file (truncated or another format). Re-write it, e.g. with "
                "pandas.DataFrame.to_parquet",
            )
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(file)
        schema = meta.schema.to_arrow_schema()
    except (pa.ArrowException, OSError) as e:
        add(at, f"{path}: unreadable parquet footer ({str(e).splitlines()[0]}). Re-write the file")
        return None
    columns = _needed_columns(set(schema.names), block, kind, path, at, add)
    if columns is None:
        return None
    for column, canonical in columns.items():
        accepted = COLUMN_TYPES.get(canonical, ())
        kind_of = schema.field(column).type
        is_text = pa.types.is_string(kind_of) or pa.types.is_large_string(kind_of)
        is_list = pa.types.is_list(kind_of) or pa.types.is_large_list(kind_of)
        ok = (
            ("text" in accepted and is_text)
            or (any(a.endswith("chat") for a in accepted) and is_list)
            or ("label" in accepted and (is_text or pa.types.is_integer(kind_of)))
            or not accepted
        )
        if not ok:
            add(at, f"{path}: column {column!r} has type {kind_of}; a {canonical} column holds {' or '.join(accepted)}")
            return None
    if meta.num_rows == 0:
        add(at, f"{path}: no rows. The file is empty")
        return None
    return {"rows": meta.num_rows, "chars": None}


def _needed_columns(present: set, block: dict, kind: Kind, path: str, at: tuple, add) -> dict | None:
    """{file column: canonical name} of the first of the kind's column sets the file has, after the recipe's
    *_field renames; None (reported) when none is complete."""

    def actual(canonical: str) -> list[str]:  # a listed text_field stands for several columns
        name = block.get(f"{canonical}_field") or canonical
        return name if isinstance(name, list) else [name]

    alternatives = [{c: canonical for canonical in alt for c in actual(canonical)} for alt in kind.columns]
    if block.get("text_pair_field"):
        alternatives = [{**alt, block["text_pair_field"]: "text_pair"} for alt in alternatives]
    for alt in alternatives:
        if all(c in present for c in alt):
            return alt
    if not alternatives:
        return {}
    want = " or ".join("+".join(alt) for alt in alternatives)
    canonical = next((c for c in kind.columns[0] if not set(actual(c)) <= present), kind.columns[0][0])
    missing = next((c for c in actual(canonical) if c not in present), actual(canonical)[0])
    fix = (
        f"Map it with {canonical}_field: COLUMN"
        if f"{canonical}_field" in kind.fields
        else "Rename the column in the file"
    )
    add(at, f"{path}: missing column {missing!r} (needs {want}; has {', '.join(sorted(present))}). {fix}")
    return None


def _check_enough(stats: dict, block: dict, kind: Kind, files: dict, at: tuple, add, block_size) -> None:
    """Enough train rows for the splits asked (test_size, validation_size or the kind's held-out share) and, for
    pretraining, enough text for one block (a token is at least one character)."""
    kind_name = next((name for name, k in KINDS.items() if k is kind), "this")
    default = kind.holdout if kind_name in ALWAYS_HELD_OUT else None
    holdouts = [
        block.get("test_size") if "test" not in files else None,
        (block.get("validation_size") or default) if "validation" not in files else None,
    ]
    holdouts = [h for h in holdouts if isinstance(h, (int, float)) and not isinstance(h, bool) and h > 0]
    least = MIN_TRAIN_ROWS.get(kind_name, 1)
    if _train_left(stats["rows"], holdouts) < least:
        need = next(n for n in range(1, 10**6) if _train_left(n, holdouts) >= least)
        held = " after holding out " + " and ".join(map(str, holdouts)) + " for test/validation" if holdouts else ""
        add(
            at,
            f"{files['train']}: {stats['rows']} rows; a "
            f"{kind_name} stage needs >= {need} ({least} to train on{held}). Add rows or give a validation file",
        )
    if isinstance(block_size, int) and stats["chars"] is not None and stats["chars"] + stats["rows"] < block_size:
        add(
            at,
            f"{files['train']}: about {stats['chars']} characters, fewer than one block of {block_size} tokens. "
            "Add text or lower block_size",
        )


def _train_left(rows: int, holdouts: list) -> int:
    """Rows train keeps after splitting off each holdout (datasets rounds a fraction's test share up)."""
    for size in holdouts:
        held = math.ceil(size * rows) if isinstance(size, float) and size < 1 else int(size)
        if held < 1 or held >= rows:
            return 0
        rows -= held
    return rows

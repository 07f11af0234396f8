"""Small file helpers: atomic writes, JSONL reading with line-precise errors."""

import json
import os
import tempfile
from pathlib import Path

from hfpipeline.errors import UserError


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` so readers see the old file or the new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; manifests are for everyone who may read the run
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.filename != str(path):  # name the file meant, not the temporary one
            raise OSError(e.errno, e.strerror, str(path)) from None
        raise


def write_json(path: str | Path, obj) -> None:
    """Atomically write `obj` as indented JSON."""
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def read_json(path: str | Path):
    """Read a JSON file; a damaged one (interrupted write, full disk, hand edit) raises UserError naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f"line {e.lineno}: {e.msg}" if isinstance(e, json.JSONDecodeError) else "not UTF-8"
        raise UserError(
            f"{path}: damaged JSON ({where}). Restore it from a backup, or delete it and rerun with "
            "--overwrite (the stages it recorded run again)"
        ) from None


def append_jsonl(path: str | Path, row: dict) -> None:
    """Append one row as a single write (and fsync), so a crash never leaves half a line."""
    line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_text(path: str | Path) -> str:
    """A UTF-8 text file's content; a missing file or a bad byte raises UserError naming file (and line)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not valid UTF-8 (a binary file?). Give a UTF-8 text file") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise UserError(f"{path}:{line}: holds a NUL byte: a binary file, not text. Give a UTF-8 text file")
    return text


def iter_jsonl(path: str | Path):
    """Yield (line number, object) of a JSONL file; a bad line raises UserError naming file and line."""
    decode = json.JSONDecoder().decode  # validate streams whole files: the fewest calls per line
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                row = decode(raw.decode("utf-8"))
            except UnicodeDecodeError as e:
                raise UserError(
                    f"{path}:{lineno}: not valid UTF-8 (byte {e.start}). Re-save the file as UTF-8"
                ) from None
            except json.JSONDecodeError as e:
                if not raw.strip():
                    continue  # a blank line
                raise UserError(
                    f"{path}:{lineno}: not valid JSON ({e.msg}). Each line must be one JSON object"
                ) from None
            if not isinstance(row, dict):
                raise UserError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a JSONL file of objects; a bad line raises UserError naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    return [row for _, row in iter_jsonl(path)]

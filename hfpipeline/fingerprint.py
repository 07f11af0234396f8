"""What a stage's result depends on, resolved and hashed: its own block, the recipe-level settings that reach it
(seed, defaults), the identity of its data files and local model folders, and the fingerprints of the stages it
uses. run.json keeps both, so a rerun keeps unchanged stages and can say which key or file changed."""

import hashlib
import json
from pathlib import Path

from hfpipeline.kinds import KINDS

SMALL_FILE = 1 << 20  # files below 1 MB are identified by content; larger ones by size and mtime
MAX_FILES = 1000  # files of a data folder looked at


def resolve(stage, recipe, inputs: dict) -> dict:
    """Everything the stage's result depends on; `inputs` maps the stages it uses to their fingerprints."""
    block = next(s for s in recipe.raw["stages"] if isinstance(s, dict) and s.get("name") == stage.name)
    out = {"stage": block, "seed": recipe.seed}
    if KINDS[stage.kind].config:
        out["defaults"] = recipe.defaults
    files = {p: identity(Path(p)) for p in data_paths(stage)}
    files.update({ref["dir"]: identity(Path(ref["dir"])) for _, ref in stage.each_ref() if ref and "dir" in ref})
    if files:
        out["files"] = files
    if inputs:
        out["inputs"] = inputs
    return json.loads(json.dumps(out, default=str))  # as stored in run.json (YAML dates etc. as text)


def of(resolved: dict) -> str:
    return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()[:16]


def data_paths(stage) -> list[str]:
    """The local files a stage reads: its data block's paths (a labelled batch's labels beside it) and a path
    given as eval_prompts."""
    from hfpipeline import feedback
    from hfpipeline.data_refs import resolve_path

    blocks = [stage.data or {}, stage.options.get("eval_prompts") or {}]
    paths = []
    for block in blocks:
        block = {"path": block} if isinstance(block, str) else block
        given = block.get("path")
        paths += list(given.values()) if isinstance(given, dict) else [given] if given else []
    files = [str(resolve_path(p)) for p in paths if isinstance(p, str)]
    labels = [str(feedback.labels_path_for(Path(f))) for f in files if f.endswith(".jsonl")]
    return files + [f for f in labels if Path(f).is_file()]


def identity(path: Path) -> dict:
    """A file: size and content hash (small) or mtime (large); a folder: that of each file in it."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())[:MAX_FILES]
        return {str(p.relative_to(path)): identity(p) for p in files}
    if not path.is_file():
        return {"missing": True}
    size = path.stat().st_size
    if size < SMALL_FILE:
        return {"size": size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16]}
    return {"size": size, "mtime_ns": path.stat().st_mtime_ns}


def changes(stage_name: str, old: dict | None, new: dict, limit: int = 3) -> str:
    """What differs between two resolved records, as `stages.NAME.train.learning_rate: 0.001 -> 0.002`, `file X`
    or `stage X it uses`."""
    if not old:
        return "no record of its settings (run by an older hfpipeline)"
    a, b = _flat(old), _flat(new)
    said, out = set(), []
    for key in sorted(set(a) | set(b)):
        if a.get(key) == b.get(key):
            continue
        part, *rest = key
        if part == "files":
            what = f"file {rest[0]} changed"
        elif part == "inputs":
            what = f"stage {rest[0]} it uses changed"
        else:
            path = ".".join(map(str, rest))
            where = {"stage": f"stages.{stage_name}.{path}", "seed": "seed", "defaults": f"defaults.train.{path}"}[part]
            what = f"{where}: {_show(a.get(key))} -> {_show(b.get(key))}"
        if what not in said:
            said.add(what)
            out.append(what)
    extra = f" (+{len(out) - limit} more)" if len(out) > limit else ""
    return "; ".join(out[:limit]) + extra


def _flat(value, prefix: tuple = ()) -> dict:
    if isinstance(value, dict) and value:
        return {k: v for key, item in value.items() for k, v in _flat(item, prefix + (key,)).items()}
    return {prefix: value}


def _show(value) -> str:
    return "(unset)" if value is None else json.dumps(value)

"""The run directory: run.json (atomic), recipe.resolved.yaml, per-stage metrics.json; stage folders (marker,
what a finished one holds, deleting only our own); which stage folder a command loads."""

import os
import platform
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path

from hfpipeline import card, dist, lock
from hfpipeline.errors import UserError
from hfpipeline.files import read_json, write_json, write_text_atomic
from hfpipeline.kinds import BATCH, KINDS, TOKENIZER

MANIFEST = "run.json"
PACKAGES = ("hfpipeline", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "evaluate", "tokenizers")


def model_folder(path: str, kinds: tuple[str, ...] | None = None, accept=None, tokenizer_only: bool = False) -> str:
    """What a command loads: a model folder or RUN_DIR/STAGE as is; a run dir -> its last finished stage (of
    `kinds`, passing `accept`) that holds a model, said on stderr, and refused while the run's last stage of those
    kinds is unfinished; a Hub id as is. A tokenizer-only folder passes if allowed."""
    p = Path(path)
    if (p / MANIFEST).is_file():
        return _from_run(p, kinds, accept)
    if p.is_file():
        raise UserError(f"{path}: is a file, not a model folder. Give a model folder, a run dir or RUN_DIR/STAGE")
    if p.is_dir():
        if not (card.holds_model(p) or (tokenizer_only and (p / "tokenizer_config.json").is_file())):
            raise UserError(
                f"{path}: holds no model (no config.json or adapter_config.json). Give a model folder, "
                "a run dir or RUN_DIR/STAGE"
            )
        return card.check_weights(str(p))
    if path.startswith((".", "/", "~")) or path.count("/") > 1 or Path(path.split("/")[0]).is_dir():
        raise UserError(f"{path}: no such folder")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on") and not _cached(path):
        raise UserError(
            f"{path}: no such folder, and not a model in the local Hub cache (offline: HF_HUB_OFFLINE "
            "is set). Give a model folder, a run dir or RUN_DIR/STAGE"
        )
    return path  # a Hub id


def _from_run(run_dir: Path, kinds, accept) -> str:
    """The run's last finished stage of `kinds` holding a model (passing `accept`), said on stderr."""
    stages = [s for s in read_manifest(run_dir)["stages"] if kinds is None or s["kind"] in kinds]
    usable = [
        s
        for s in stages
        if s["status"] == "done"
        and card.holds_model(run_dir / s["name"])
        and (accept is None or accept(run_dir / s["name"]))
    ]
    which = f"{'/'.join(kinds)} stage" if kinds else "stage"
    if not usable:
        raise UserError(
            f"{run_dir}: no finished {which} holding a model in this run. Run the recipe first, or give RUN_DIR/STAGE"
        )
    if stages and stages[-1]["status"] != "done":  # e.g. mid-run: never fall back on an earlier stage silently
        last = stages[-1]
        raise UserError(
            f"{run_dir}: its last {which}, {last['name']!r}, is {last['status']}, not finished. Finish "
            f"the run, or name a finished stage: {run_dir / usable[-1]['name']}"
        )
    chosen = usable[-1]
    print(f"using {run_dir / chosen['name']} (the {chosen['kind']} stage)", file=sys.stderr)
    return card.check_weights(str(run_dir / chosen["name"]))


def _cached(repo_id: str) -> bool:
    """A Hub model whose config is in the local cache (what from_pretrained can load offline)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # not a valid repo id
        return False


def read_manifest(run_dir: Path, missing_ok: bool = False) -> dict:
    """run.json; with missing_ok, a run dir not started yet reads as one with no stages."""
    if missing_ok and not (run_dir / MANIFEST).is_file():
        return {"stages": []}
    return read_json(run_dir / MANIFEST)


def open_run(run_dir: Path, recipe, overwrite: bool) -> dict:
    """Start or continue a run in `run_dir`: run.json gets an entry for every stage of the recipe (kept entries keep
    their status and fingerprint). Refuse a folder that is not a run dir, or a run of another recipe, without
    overwrite."""
    path = run_dir / MANIFEST
    if path.exists():
        manifest = read_json(path)
        if manifest.get("name") != recipe.name and not overwrite:
            raise UserError(
                f"{run_dir}: holds a run of a different recipe ({manifest.get('name')}). Pass --overwrite "
                "to run this one into it (its stages are re-run), or set output_dir=ANOTHER_DIR"
            )
    elif run_dir.exists() and set(p.name for p in run_dir.iterdir()) - {lock.FILE} and not overwrite:
        raise UserError(
            f"{run_dir}: exists and is not an hfpipeline run directory. "
            "Pass --overwrite to write into it anyway (nothing hfpipeline did not write is deleted), "
            "or set output_dir=ANOTHER_DIR"
        )
    else:
        manifest = {"created": time.time(), "stages": []}
    old = {s["name"]: s for s in manifest["stages"]}
    manifest.update(name=recipe.name, seed=recipe.seed, versions=versions())
    manifest.pop("recipe_fingerprint", None)  # one hash per stage now (fingerprint.py)
    manifest["stages"] = [
        old.get(s.name)
        if old.get(s.name, {}).get("kind") == s.kind
        else {"name": s.name, "kind": s.kind, "status": "pending"}
        for s in recipe.stages
    ]
    write_json(path, manifest)
    return manifest


def versions() -> dict:
    """Versions of Python and the libraries that shape a run's result."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def entry(manifest: dict, name: str) -> dict:
    return next(s for s in manifest["stages"] if s["name"] == name)


# --- stage folders -----------------------------------------------------------------------------------------------

MARKER = ".hfpipeline-stage"  # written when hfpipeline creates a stage folder: only such folders are ever deleted


def product_files(stage_dir: Path, kind_name: str) -> list[str]:
    """The files a finished stage folder must hold: its card (a tokenizer's tokenizer.json, a sample stage's batch)
    and its weights."""
    produced = KINDS[kind_name].produces
    head = {TOKENIZER: "tokenizer.json", BATCH: "batch.jsonl"}.get(produced, card.FILE)
    weights = sorted(
        str(p.relative_to(stage_dir))
        for p in stage_dir.rglob("*.safetensors")
        if "checkpoints" not in p.relative_to(stage_dir).parts
    )
    return [head, *weights]


def record_files(stage_dir: Path, kind_name: str) -> dict:
    """{file: size} of the product files, for run.json (verify checks them before a done stage is kept)."""
    return {f: (stage_dir / f).stat().st_size for f in product_files(stage_dir, kind_name) if (stage_dir / f).is_file()}


def verify(stage_dir: Path, stage_entry: dict) -> str | None:
    """Why a stage recorded as done cannot be kept (its folder or a file is missing or of another size), or None."""
    if not stage_dir.is_dir():
        return f"its folder {stage_dir} is missing"
    files = stage_entry.get("files") or {f: None for f in product_files(stage_dir, stage_entry["kind"])[:1]}
    for name, size in files.items():
        file = stage_dir / name
        if not file.is_file():
            return f"{file} is missing"
        if size is not None and file.stat().st_size != size:
            return f"{file} is {file.stat().st_size} bytes, run.json recorded {size}"
    return None


def start_stage_dir(stage_dir: Path, run_name: str) -> None:
    """Create the stage folder (kept as is when resuming) and its marker."""
    stage_dir.mkdir(parents=True, exist_ok=True)
    write_json(stage_dir / MARKER, {"run": run_name, "stage": stage_dir.name, "created": time.time()})


def remove_stage_dir(stage_dir: Path, stage_entry: dict | None) -> None:
    """Delete a stage folder hfpipeline wrote (its marker, or run.json's entry and its card); refuse anything else,
    and folders holding human labels."""
    if not stage_dir.exists():
        return
    ours = (stage_dir / MARKER).is_file() or (
        stage_entry
        and stage_entry.get("status") != "pending"
        and any((stage_dir / f).is_file() for f in (card.FILE, "tokenizer.json", "batch.jsonl"))
    )
    if not stage_dir.is_dir() or not ours:
        raise UserError(
            f"{stage_dir}: not written by hfpipeline (no {MARKER} in it), so it is not replaced. "
            "Move it away, or set output_dir=ANOTHER_DIR"
        )
    labels = sorted(stage_dir.rglob("*.labels.jsonl"))
    if labels:  # labels are a person's work
        raise UserError(
            f"{labels[0]}: human labels inside a stage folder that this run would replace. "
            f"Move them out of {stage_dir} first (e.g. to labels/) and point the reward stage at the copy"
        )
    shutil.rmtree(stage_dir)


def mark(run_dir: Path, manifest: dict, name: str, **fields) -> None:
    """Update one stage's entry and rewrite run.json (main process only)."""
    entry(manifest, name).update(fields)
    manifest["updated"] = time.time()
    if dist.is_main():
        write_json(run_dir / MANIFEST, manifest)


def finish(run_dir: Path, manifest: dict) -> None:
    manifest["summary"] = [
        {"stage": s["name"], "status": s["status"], "seconds": s.get("seconds"), **(s.get("headline") or {})}
        for s in manifest["stages"]
    ]
    write_json(run_dir / MANIFEST, manifest)


def write_resolved_recipe(run_dir: Path, text: str) -> None:
    write_text_atomic(run_dir / "recipe.resolved.yaml", text)


def write_metrics(stage_dir: Path, metrics: dict) -> None:
    write_json(stage_dir / "metrics.json", metrics)


def summary_table(manifest: dict, names: list[str]) -> str:
    """A short per-stage table: status, wall time, headline metric beside its baseline."""
    rows = [("stage", "kind", "status", "time", "metric")]
    for s in manifest["stages"]:
        if s["name"] not in names:
            continue
        rows.append((s["name"], s["kind"], s["status"], f"{s.get('seconds', 0) or 0:.1f}s", headline(s)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def headline(entry: dict) -> str:
    """A stage's headline metric beside its baseline, e.g. `accuracy=0.975 (vs majority_baseline 0.4813)`."""
    head = entry.get("headline") or {}
    value = head.get("value")
    shown = (
        f"{head['metric']}={value:.4g}"
        if isinstance(value, (int, float))
        else (f"{head['metric']}={value}" if head else "")
    )
    if isinstance(head.get("baseline_value"), (int, float)):
        shown += f" (vs {head['baseline']} {head['baseline_value']:.4g})"
    return shown

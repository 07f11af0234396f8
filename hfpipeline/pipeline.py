"""Runs a validated recipe under the run directory's lock: which stages to keep, run or resume (per-stage
fingerprints, done stages verified on disk), run.json bookkeeping, SIGTERM like Ctrl-C, and the summary table."""

import importlib
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from hfpipeline import console, dist, fingerprint, lock, modelcard, report, rundir, training
from hfpipeline.errors import UserError
from hfpipeline.kinds import KINDS
from hfpipeline.recipe import Recipe, Stage, load_recipe, redact
from hfpipeline.training import FACTS


@dataclass
class Context:
    """What a stage runner gets besides its Stage: where things are and the recipe around it."""

    recipe: Recipe
    run_dir: Path
    stage_dir: Path
    resumable: bool = True  # the kind resumes from checkpoints (kinds.Kind.resumable)

    def ref(self, ref: dict | None) -> str | None:
        """A model/tokenizer reference as something from_pretrained takes (folder or Hub id)."""
        if ref is None:
            return None
        if "stage" in ref:  # absolute: LoRA adapters record their base model's path, which must work from anywhere
            return str((self.run_dir / ref["stage"]).resolve())
        return str(Path(ref["dir"]).resolve()) if "dir" in ref else ref.get("hub")


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: the running stage is marked interrupted; the command exits 143."""


@dataclass
class Step:
    """What a run does with one stage: keep (done and unchanged), run (from scratch), resume (from its newest
    complete checkpoint) or skip (not selected by --only); why; and the stage's fingerprint."""

    stage: Stage
    action: str
    reason: str
    fingerprint: str
    resolved: dict


def run_command(args) -> int:
    """`hfpipeline run`: 0 done, 2 a user error, 130 Ctrl-C, 143 SIGTERM."""
    recipe = load_recipe(args.recipe, args.overrides)
    console.set_verbose(args.verbose)
    if getattr(args, "plan", False):
        print(format_plan(plan(recipe, only=args.only, overwrite=args.overwrite)))
        return 0
    try:
        run_recipe(recipe, only=args.only, overwrite=args.overwrite)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (Terminated)
        if dist.is_main():  # on its own line, under any progress bar
            how = "stopped by SIGTERM" if isinstance(e, Terminated) else "interrupted"
            print(f"\n{how}: {what_was_kept(recipe, args)}", file=sys.stderr, flush=True)
        return 143 if isinstance(e, Terminated) else 130
    return 0


def what_was_kept(recipe: Recipe, args) -> str:
    """After Ctrl-C or SIGTERM: the stages kept, the checkpoint the stopped stage goes on from, the command."""
    run_dir = Path(recipe.output_dir)
    stages = rundir.read_manifest(run_dir, missing_ok=True)["stages"]
    done = [s["name"] for s in stages if s.get("status") == "done"]
    said = [f"done and kept: {', '.join(done)}" if done else "no stage was done"]
    for s in (s for s in stages if s.get("status") == "interrupted"):
        checkpoint = training.last_complete_checkpoint(run_dir / s["name"] / "checkpoints")
        said.append(
            f"{s['name']} goes on from its {checkpoint.name}"
            if checkpoint
            else f"{s['name']} had no checkpoint yet (one every {training.SAVE_EVERY_SECONDS // 60} min) and restarts"
        )
    command = ["hfpipeline", "run", args.recipe, *args.overrides, *(["--only", args.only] if args.only else [])]
    return f"{'; '.join(said)}. Resume with: {shlex.join(command)}"


def run_recipe(recipe: Recipe, only: str | None = None, overwrite: bool = False) -> dict:
    """Run the recipe's stages in order into its run directory, holding its lock; return run.json's content."""
    _check_only(recipe, only)
    run_dir = Path(recipe.output_dir)
    held = lock.acquire(run_dir) if dist.is_main() else None
    previous = _on_sigterm()
    try:
        return _run_locked(recipe, run_dir, only, overwrite)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if held:
            lock.release(held)


def _run_locked(recipe: Recipe, run_dir: Path, only: str | None, overwrite: bool) -> dict:
    manifest = rundir.open_run(run_dir, recipe, overwrite) if dist.is_main() else None
    dist.wait()
    manifest = manifest or rundir.read_manifest(run_dir)
    if dist.is_main():
        rundir.write_resolved_recipe(run_dir, yaml.safe_dump(redact(recipe.raw), sort_keys=False))
    steps = decide(recipe, manifest, run_dir, only, overwrite)
    todo = [step for step in steps if step.action in ("run", "resume")]
    if todo:
        from hfpipeline import preflight

        preflight.check(recipe, [step.stage for step in todo])
    for step in steps:
        if step.action == "skip":
            continue
        _say(f"[{step.stage.name}] {step.action}: {step.reason}")
        if step.action != "keep":
            _check_inputs_done(step.stage, manifest, run_dir)
            _run_stage(step, recipe, run_dir, manifest)
    selected = [step.stage.name for step in steps if step.action != "skip"]
    if dist.is_main():
        rundir.finish(run_dir, manifest)
        print(rundir.summary_table(manifest, selected))
        report.after_run(run_dir)
    dist.wait()
    return manifest


def plan(recipe: Recipe, only: str | None = None, overwrite: bool = False) -> list[Step]:
    """What `hfpipeline run` would do with each stage, and why; runs nothing, writes nothing."""
    _check_only(recipe, only)
    run_dir = Path(recipe.output_dir)
    return decide(recipe, rundir.read_manifest(run_dir, missing_ok=True), run_dir, only, overwrite)


def format_plan(steps: list[Step]) -> str:
    width = max(len(step.stage.name) for step in steps)
    return "\n".join(f"{step.stage.name.ljust(width)}  {step.action.ljust(6)}  {step.reason}" for step in steps)


def decide(recipe: Recipe, manifest: dict, run_dir: Path, only: str | None, overwrite: bool) -> list[Step]:
    """Keep / run / resume / skip for each stage. A stage re-runs when its fingerprint changed, when a stage it uses
    re-runs, or when its folder no longer holds what run.json recorded; it resumes when an earlier attempt was
    interrupted, failed or killed (we hold the lock, so a `running` entry's process is gone)."""
    recorded = {s["name"]: s for s in manifest["stages"]}
    fingerprints: dict[str, str] = {}
    rerun: set[str] = set()
    steps = []
    for stage in recipe.stages:
        old = recorded.get(stage.name) or {}
        uses = sorted({ref["stage"] for _, ref in stage.each_ref() if ref and "stage" in ref})
        resolved = fingerprint.resolve(stage, recipe, {name: fingerprints[name] for name in uses})
        fp = fingerprint.of(resolved)
        if only not in (None, stage.name):  # not run: what the later stages use is what its folder holds
            fingerprints[stage.name] = old.get("fingerprint") or fp
            steps.append(Step(stage, "skip", f"not selected (--only {only})", fp, resolved))
            continue
        fingerprints[stage.name] = fp
        action, reason = _decide_one(stage, old, fp, resolved, rerun, run_dir, overwrite, uses)
        if action != "keep":
            rerun.add(stage.name)
        steps.append(Step(stage, action, reason, fp, resolved))
    return steps


def _decide_one(stage, old, fp, resolved, rerun, run_dir, overwrite, uses) -> tuple[str, str]:
    status = old.get("status", "pending")
    if overwrite:
        return "run", "--overwrite: from scratch"
    if status == "pending":
        return "run", "not run yet"
    if old.get("fingerprint") != fp:
        return "run", "changed: " + fingerprint.changes(stage.name, old.get("resolved"), resolved)
    if changed := [name for name in uses if name in rerun]:
        return "run", f"uses stage {changed[0]}, which re-runs"
    stage_dir = run_dir / stage.name
    if status == "done":
        problem = rundir.verify(stage_dir, old)
        return ("keep", "done already, unchanged") if problem is None else ("run", f"done but {problem}")
    what = status
    if status == "running":  # under the lock its owner is gone; --plan may run beside a live run
        owner = old.get("owner") or {}
        where = f"pid {owner.get('pid', '?')} on {owner.get('host', '?')}"
        what = f"running now ({where})" if owner and lock.alive(owner) else f"killed ({where} is gone)"
    if not KINDS[stage.kind].resumable:
        return "run", f"{what}; a {stage.kind} stage starts over"
    checkpoint = training.last_complete_checkpoint(stage_dir / "checkpoints")
    if checkpoint is None:
        return "run", f"{what}; no complete checkpoint to resume from"
    return "resume", f"{what}; from {checkpoint.name}"


def _check_only(recipe: Recipe, only: str | None) -> None:
    if only is not None and only not in [s.name for s in recipe.stages]:
        raise UserError(f"--only {only}: no such stage. Stages: {', '.join(s.name for s in recipe.stages)}")


def _on_sigterm():
    """Make SIGTERM raise Terminated in the main thread (like Ctrl-C); return the handler it replaced."""

    def handler(signum, frame):
        raise Terminated()

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        return None


def _check_inputs_done(stage: Stage, manifest: dict, run_dir: Path) -> None:
    for key, ref in stage.each_ref():
        if not ref or "stage" not in ref:
            continue
        used = rundir.entry(manifest, ref["stage"])
        problem = "is not done" if used["status"] != "done" else rundir.verify(run_dir / ref["stage"], used)
        if problem:
            raise UserError(
                f"stage {stage.name}: its {key} comes from stage {ref['stage']!r}, which "
                f"{problem if problem == 'is not done' else 'is done but ' + problem}. "
                f"Run it first (hfpipeline run RECIPE --only {ref['stage']})"
            )


def _run_stage(step: Step, recipe: Recipe, run_dir: Path, manifest: dict) -> None:
    """Run one stage: from scratch (its old folder, if hfpipeline wrote it, is replaced now that its inputs are
    checked) or resumed (the folder and its checkpoints kept). run.json records fingerprint, owner, attempts."""
    stage = step.stage
    kind = KINDS[stage.kind]
    stage_dir = run_dir / stage.name
    old = rundir.entry(manifest, stage.name)
    resume = step.action == "resume"
    if dist.is_main():
        if not resume:
            rundir.remove_stage_dir(stage_dir, old)
        rundir.start_stage_dir(stage_dir, recipe.name)
    dist.wait()
    attempts = _attempts_so_far(old, stage_dir) if resume else []
    ctx = Context(recipe=recipe, run_dir=run_dir, stage_dir=stage_dir, resumable=kind.resumable)
    rundir.mark(
        run_dir,
        manifest,
        stage.name,
        status="running",
        started=time.time(),
        error=None,
        owner=lock.owner(),
        fingerprint=step.fingerprint,
        resolved=step.resolved,
        attempts=attempts,
        files=None,
        headline=None,
    )
    start = time.time()

    def ended(status: str, **fields) -> None:
        done = [*attempts, {"status": status, "seconds": round(time.time() - start, 1)}]
        rundir.mark(
            run_dir,
            manifest,
            stage.name,
            status=status,
            attempts=done,
            seconds=round(sum(a["seconds"] for a in done), 1),
            **fields,
        )

    try:
        metrics = _run_runner(importlib.import_module(kind.runner), stage, ctx)
    except KeyboardInterrupt:
        ended("interrupted")
        raise
    except BaseException as e:
        ended("failed", error=f"{type(e).__name__}: {e}".splitlines()[0])
        raise
    dist.wait()
    if dist.is_main():
        rundir.write_metrics(stage_dir, metrics)
        modelcard.write(stage, recipe, stage_dir, metrics)
    ended(
        "done",
        finished=time.time(),
        headline=_headline(kind, metrics),
        files=rundir.record_files(stage_dir, stage.kind) if dist.is_main() else None,
        **({"distributed": dist.describe()} if kind.config else {}),
        **{k: metrics[k] for k in (*FACTS, "train_steps") if k in metrics},
    )
    entry = rundir.entry(manifest, stage.name)
    shown = rundir.headline(entry)
    _say(f"[{stage.name}] done in {entry['seconds']:.1f}s" + (f": {shown}" if shown else ""))


def _attempts_so_far(old: dict, stage_dir: Path) -> list[dict]:
    """The earlier attempts of a stage being resumed; one that was killed counts until its last file was written."""
    attempts = list(old.get("attempts") or [])
    if old.get("status") == "running" and old.get("started"):
        last = max((p.stat().st_mtime for p in stage_dir.rglob("*") if p.is_file()), default=old["started"])
        attempts.append({"status": "killed", "seconds": round(max(last - old["started"], 0), 1)})
    return attempts


def _run_runner(runner, stage: Stage, ctx: Context) -> dict:
    """Trainer stages run on every process, seeded alike (same initial weights everywhere, reproducible runs);
    stages without a trainer (tokenizer, sample) run on the main process alone while the others wait."""
    if KINDS[stage.kind].config is None:
        if not dist.is_main():
            return {}
        with console.stage_log(ctx.stage_dir):
            return runner.run(stage, ctx)
    from transformers import set_seed

    set_seed(ctx.recipe.seed)
    with console.stage_log(ctx.stage_dir):
        return runner.run(stage, ctx)


def _headline(kind, metrics: dict) -> dict:
    """The kind's headline metric and what it is compared with; a tuple lists candidates in order (seq2seq:
    rougeL for summaries with the lead-N baseline, sacrebleu for translation with none)."""
    names = (kind.headline,) if isinstance(kind.headline, str) else kind.headline
    baselines = kind.baseline if isinstance(kind.baseline, tuple) else (kind.baseline,) * len(names)
    i = next((i for i, n in enumerate(names) if n in metrics), 0)
    head = {"metric": names[i], "value": metrics.get(names[i])}
    if baselines[i] and metrics.get(baselines[i]) is not None:
        head.update(baseline=baselines[i], baseline_value=metrics[baselines[i]])
    return head


def _say(text: str) -> None:
    if dist.is_main():
        print(text, file=sys.stderr, flush=True)

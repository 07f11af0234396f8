"""Runs a validated recipe: stage order, skip/refuse/overwrite rules, run.json bookkeeping and the summary table."""

import importlib
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from hfpipeline import console, dist, modelcard, report, rundir
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
    resumable: bool = True   # the kind resumes from checkpoints (kinds.Kind.resumable)

    def ref(self, ref: dict | None) -> str | None:
        """A model/tokenizer reference as something from_pretrained takes (folder or Hub id)."""
        if ref is None:
            return None
        if "stage" in ref:   # absolute: LoRA adapters record their base model's path, which must work from anywhere
            return str((self.run_dir / ref["stage"]).resolve())
        return str(Path(ref["dir"]).resolve()) if "dir" in ref else ref.get("hub")


def run_command(args) -> int:
    """`hfpipeline run`."""
    recipe = load_recipe(args.recipe, args.overrides)
    console.set_verbose(args.verbose)
    run_recipe(recipe, only=args.only, overwrite=args.overwrite)
    return 0


def run_recipe(recipe: Recipe, only: str | None = None, overwrite: bool = False) -> dict:
    """Run the recipe's stages in order into its run directory; return run.json's content."""
    if only is not None and only not in [s.name for s in recipe.stages]:
        raise UserError(f"--only {only}: no such stage. Stages: {', '.join(s.name for s in recipe.stages)}")
    run_dir = Path(recipe.output_dir)
    manifest = rundir.open_run(run_dir, recipe, overwrite) if dist.is_main() else None
    dist.wait()
    manifest = manifest or rundir.read_manifest(run_dir)
    if dist.is_main():
        rundir.write_resolved_recipe(run_dir, yaml.safe_dump(redact(recipe.raw), sort_keys=False))
    selected = [s for s in recipe.stages if only in (None, s.name)]
    for stage in selected:
        entry = rundir.entry(manifest, stage.name)
        if entry["status"] == "done" and not overwrite:
            _say(f"[{stage.name}] done already, skipped (pass --overwrite to re-run it)")
            continue
        _check_inputs_done(stage, manifest)
        _run_stage(stage, recipe, run_dir, manifest, fresh=overwrite)
    if dist.is_main():
        rundir.finish(run_dir, manifest)
        print(rundir.summary_table(manifest, [s.name for s in selected]))
        report.after_run(run_dir)
    dist.wait()
    return manifest


def _check_inputs_done(stage: Stage, manifest: dict) -> None:
    for key, ref in stage.each_ref():
        if ref and "stage" in ref and rundir.entry(manifest, ref["stage"])["status"] != "done":
            raise UserError(f"stage {stage.name}: its {key} comes from stage {ref['stage']!r}, which is not done. "
                            f"Run it first (hfpipeline run RECIPE --only {ref['stage']})")


def _run_stage(stage: Stage, recipe: Recipe, run_dir: Path, manifest: dict, fresh: bool) -> None:
    """Run one stage; an interrupted or failed stage of a kind that resumes keeps its folder (checkpoints) unless
    `fresh`."""
    kind = KINDS[stage.kind]
    stage_dir = run_dir / stage.name
    resume = rundir.entry(manifest, stage.name)["status"] in ("failed", "interrupted") and kind.resumable and not fresh
    if dist.is_main() and stage_dir.exists() and not resume:
        _refuse_to_delete_labels(stage_dir)
        shutil.rmtree(stage_dir)
    dist.wait()
    ctx = Context(recipe=recipe, run_dir=run_dir, stage_dir=stage_dir, resumable=kind.resumable)
    rundir.mark(run_dir, manifest, stage.name, status="running", started=time.time(), error=None)
    _say(f"[{stage.name}] {stage.kind} ...")
    start = time.time()
    try:
        metrics = _run_runner(importlib.import_module(kind.runner), stage, ctx)
    except KeyboardInterrupt:
        rundir.mark(run_dir, manifest, stage.name, status="interrupted", seconds=round(time.time() - start, 1))
        raise
    except BaseException as e:
        rundir.mark(run_dir, manifest, stage.name, status="failed", seconds=round(time.time() - start, 1),
                    error=f"{type(e).__name__}: {e}".splitlines()[0])
        raise
    dist.wait()
    if dist.is_main():
        rundir.write_metrics(stage_dir, metrics)
        modelcard.write(stage, recipe, stage_dir, metrics)
    rundir.mark(run_dir, manifest, stage.name, status="done", seconds=round(time.time() - start, 1),
                finished=time.time(), headline=_headline(kind, metrics),
                **({"distributed": dist.describe()} if kind.config else {}),
                **{k: metrics[k] for k in FACTS if k in metrics})


def _refuse_to_delete_labels(stage_dir: Path) -> None:
    """Labels are a person's work: never delete a stage folder that holds some."""
    labels = sorted(stage_dir.rglob("*.labels.jsonl"))
    if labels:
        raise UserError(f"{labels[0]}: human labels inside a stage folder that this run would replace. "
                        f"Move them out of {stage_dir} first (e.g. to labels/) and point the reward stage at the copy")


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

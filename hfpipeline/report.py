"""The run report: RUN_DIR/report.md with one PNG per stage in RUN_DIR/plots/ (curves from trainer_state.json, the
stage's before/after and baseline comparisons, a confusion matrix), the summary table, versions and sample links.

What is drawn is decided by the data a stage left (the tables below), not by its kind: a new kind gets its plots
by logging the same keys. matplotlib is imported only when a figure is drawn, and only its Agg canvas (no pyplot)."""

import sys
import time
from pathlib import Path

from hfpipeline import rundir
from hfpipeline.files import iter_jsonl, read_json, write_text_atomic

REPORT, PLOTS = "report.md", "plots"
# curve panels over training steps: title -> series (label, log keys tried in order: ppo's, then TRL's GRPO/RLOO)
CURVES = {
    "loss": (("train", ("loss",)), ("eval", ("eval_loss",))),
    "learning rate": (("learning rate", ("learning_rate", "lr")),),
    "reward per update": (("reward", ("objective/scores", "reward")),),
    "KL to the reference": (("KL", ("objective/kl", "kl")),),
    "entropy": (("entropy", ("objective/entropy", "entropy")),),
}
# bar panels: title -> bars (label, metrics.json key); drawn when the stage's metrics hold every key
COMPARISONS = {
    "pairwise accuracy (held out)": (("before", "accuracy_before"), ("after", "accuracy")),
    "eval loss": (("before", "eval_loss_before"), ("after", "eval_loss")),
    "held-out reward": (("SFT policy", "mean_reward_sft"), ("tuned policy", "mean_reward")),
}
BASELINE_PREFIX = "lead_"  # seq2seq: rougeL beside lead_rougeL (the first sentences of the source as summary)
NOISE = ("_runtime", "_per_second", "total_flos")  # timing counters left out of the metric tables
OUTPUT_FILES = ("samples.jsonl", "predictions.jsonl", "batch.jsonl", "README.md")  # linked from the report


def after_run(run_dir: Path) -> None:
    """Write the report at the end of `hfpipeline run`; a plotting failure must not fail a finished run."""
    try:
        print(f"report: {write(run_dir)}", file=sys.stderr)
    except Exception as e:  # the run's models and metrics are saved; the report can be rebuilt with `report`
        print(
            f"report: not written ({type(e).__name__}: {e}); rebuild it with: hfpipeline report {run_dir}",
            file=sys.stderr,
        )


def write(run_dir: Path) -> Path:
    """Write RUN_DIR/report.md and RUN_DIR/plots/STAGE.png; return the report's path."""
    run_dir = Path(run_dir)
    manifest = rundir.read_manifest(run_dir)
    (run_dir / PLOTS).mkdir(exist_ok=True)
    lines = [
        f"# Run `{manifest.get('name')}`",
        "",
        f"{run_dir} — seed {manifest.get('seed')}, started {_when(manifest.get('created'))}",
        "",
        "## Summary",
        "",
        "```",
        rundir.summary_table(manifest, [s["name"] for s in manifest["stages"]]),
        "```",
        "",
    ]
    for stage in manifest["stages"]:
        lines += _stage_section(run_dir, stage)
    lines += ["## Versions", "", "| package | version |", "|---|---|"]
    lines += [f"| {name} | {version} |" for name, version in (manifest.get("versions") or {}).items()]
    path = run_dir / REPORT
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def _stage_section(run_dir: Path, stage: dict) -> list[str]:
    name, folder = stage["name"], run_dir / stage["name"]
    lines = [f"## {name} ({stage['kind']})", "", f"status: {stage['status']}, {stage.get('seconds') or 0:.1f}s", ""]
    metrics = read_json(folder / "metrics.json") if (folder / "metrics.json").is_file() else {}
    png = plot_stage(folder, metrics, run_dir / PLOTS / f"{name}.png")
    if png:
        lines += [f"![{name}]({PLOTS}/{png.name})", ""]
    table = metrics_table(metrics)
    if table:
        lines += [table, ""]
    links = [f"[{f}]({name}/{f})" for f in OUTPUT_FILES if (folder / f).is_file()]
    if links:
        lines += ["files: " + ", ".join(links), ""]
    return lines


def metrics_table(metrics: dict) -> str:
    """The stage's scalar metrics as a markdown table ('' when there are none)."""
    rows = [
        f"| {k} | {_fmt(v)} |"
        for k, v in metrics.items()
        if isinstance(v, (int, float, str)) and not isinstance(v, bool) and not k.endswith(NOISE)
    ]
    return "\n".join(["| metric | value |", "|---|---|", *rows]) if rows else ""


def panels(folder: Path, metrics: dict) -> list[tuple]:
    """What a stage's figure shows: ("curve", title, [(label, steps, values)]), ("bars", title, {label: value}),
    ("confusion", title, (labels, counts))."""
    history = _history(folder, metrics)
    out = []
    for title, series in CURVES.items():
        drawn = [(label, *_series(history, keys)) for label, keys in series]
        drawn = [d for d in drawn if d[1]]
        if drawn:
            out.append(("curve", title, drawn))
    for title, bars in COMPARISONS.items():
        if all(_number(metrics.get(key)) for _, key in bars):
            out.append(("bars", title, {label: metrics[key] for label, key in bars}))
    baseline = {
        k: (metrics[k], metrics[BASELINE_PREFIX + k])
        for k in metrics
        if _number(metrics[k]) and _number(metrics.get(BASELINE_PREFIX + k))
    }
    if baseline:
        out.append(("baseline", "scores beside the lead-N baseline", baseline))
    confusion = _confusion(folder / "predictions.jsonl")
    if confusion:
        out.append(("confusion", "confusion matrix (held out)", confusion))
    return out


def plot_stage(folder: Path, metrics: dict, out: Path) -> Path | None:
    """Draw the stage's panels into one PNG; None when the stage left nothing to draw (e.g. a tokenizer)."""
    todo = panels(folder, metrics)
    if not todo:
        out.unlink(missing_ok=True)
        return None
    # no pyplot: a bare Figure saves through the Agg canvas (headless), with no global figure state
    from matplotlib.figure import Figure

    cols = min(3, len(todo))
    rows = -(-len(todo) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows))
    # fixed margins: tight_layout would measure every tick label first and doubles the drawing time
    fig.subplots_adjust(
        left=0.08, right=0.97, top=1 - 0.8 / (3.2 * rows), bottom=0.7 / (3.2 * rows), wspace=0.3, hspace=0.45
    )
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (what, title, data) in zip(axes.flat, todo):
        DRAW[what](ax, data)
        ax.set_title(title, fontsize=10)
    for ax in list(axes.flat)[len(todo) :]:
        ax.axis("off")
    fig.suptitle(folder.name)
    fig.savefig(out, dpi=80)
    return out


def _curve(ax, series) -> None:
    for label, steps, values in series:
        ax.plot(steps, values, marker="o" if len(values) < 20 else None, markersize=3, label=label)
    ax.set_xlabel("step")
    ax.legend(fontsize=8)
    ax.locator_params(nbins=5)  # fewer ticks: most of the drawing time goes to laying out tick labels


def _bars(ax, data: dict) -> None:
    ax.bar(list(data), list(data.values()), color=["#9aa5b1", "#3b7dd8"])  # before grey, after blue
    for i, v in enumerate(data.values()):
        ax.annotate(f"{v:.3g}", (i, v), ha="center", va="bottom", fontsize=8)


def _baseline(ax, data: dict) -> None:
    names = list(data)
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [data[n][0] for n in names], width=0.4, label="model")
    ax.bar([x + 0.2 for x in xs], [data[n][1] for n in names], width=0.4, label="lead-N baseline")
    ax.set_xticks(list(xs), names, fontsize=8)
    ax.legend(fontsize=8)


def _matrix(ax, data) -> None:
    labels, counts = data
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, fontsize=8, rotation=30)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("label")
    high = max(max(row) for row in counts) / 2
    for i, row in enumerate(counts):
        for j, n in enumerate(row):
            ax.text(j, i, str(n), ha="center", va="center", fontsize=8, color="white" if n > high else "black")


DRAW = {"curve": _curve, "bars": _bars, "baseline": _baseline, "confusion": _matrix}


def _history(folder: Path, metrics: dict) -> list[dict]:
    """The trainer's log history; a stage without trainer_state.json may keep its own (ppo's train_log)."""
    state = folder / "trainer_state.json"
    if state.is_file():
        return read_json(state).get("log_history") or []
    return metrics.get("train_log") or []


def _series(history: list[dict], keys: tuple) -> tuple[list, list]:
    key = next((k for k in keys if any(k in h for h in history)), None)
    rows = [h for h in history if key is not None and _number(h.get(key))]
    return [h.get("step", h.get("episode", i)) for i, h in enumerate(rows)], [h[key] for h in rows]


def _confusion(path: Path):
    """(labels, counts[label][predicted]) from a classifier's predictions.jsonl; None without one."""
    if not path.is_file():
        return None
    pairs = [(r["label"], r["predicted"]) for _, r in iter_jsonl(path) if "label" in r and "predicted" in r]
    if not pairs:
        return None
    labels = sorted({x for pair in pairs for x in pair}, key=str)
    counts = [[0] * len(labels) for _ in labels]
    for gold, predicted in pairs:
        counts[labels.index(gold)][labels.index(predicted)] += 1
    return labels, counts


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _when(stamp) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp)) if stamp else "?"

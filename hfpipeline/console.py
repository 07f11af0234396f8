"""What the terminal shows while a stage runs: progress bars, evaluation results as short lines, and our own
messages. Raw Trainer log dicts and library warnings go to STAGE_DIR/stage.log instead; `hfpipeline run -v` shows
them live as before."""

import contextlib
import json
import logging
import sys
import warnings
from pathlib import Path

LOG = "stage.log"
SHOWN = ("loss", "accuracy", "f1_macro", "rougeL", "sacrebleu", "margins", "reward", "kl")  # eval keys worth a line
_verbose = False


def set_verbose(on: bool) -> None:
    """-v: everything live on the terminal, as the libraries print it."""
    global _verbose
    _verbose = on


@contextlib.contextmanager
def stage_log(stage_dir: Path):
    """While a stage runs: transformers/TRL/datasets log records, Python warnings and anything printed to stdout go
    to STAGE_DIR/stage.log (our own lines are on stderr)."""
    if _verbose:
        yield
        return
    stage_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(stage_dir / LOG, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    loggers = [logging.getLogger(name) for name in ("transformers", "trl", "datasets", "accelerate", "peft")]
    saved = [(lg, lg.handlers[:], lg.propagate) for lg in loggers]
    show = warnings.showwarning
    for lg in loggers:
        lg.handlers, lg.propagate = [handler], False
    warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: handler.stream.write(
        f"{category.__name__}: {message} ({filename}:{lineno})\n"
    )
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # "Writing model shards" at every checkpoint, "Loading weights"
    try:
        with contextlib.redirect_stdout(handler.stream):  # libraries' prints (TRL's "===training policy===")
            yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()
        warnings.showwarning = show
        for lg, handlers, propagate in saved:
            lg.handlers, lg.propagate = handlers, propagate
        handler.close()


def quiet_progress(trainer, stage_dir: Path, name: str) -> None:
    """Swap the Trainer's progress callback for one that writes its log dicts to stage.log and evaluation
    results as one short line (-v keeps the libraries' own)."""
    if _verbose:
        return
    from transformers.trainer_callback import ProgressCallback

    class QuietProgress(ProgressCallback):
        said = None  # the last evaluation line: a final evaluation after the last step's one repeats it

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            with open(stage_dir / LOG, "a", encoding="utf-8") as log:
                log.write(json.dumps({"step": state.global_step, **logs}, default=str) + "\n")
            shown = {k: v for k, v in logs.items() if k.startswith("eval_") and k[5:].split("/")[-1] in SHOWN}
            figures = ", ".join(
                f"{k[5:]} {v:.4g}" if isinstance(v, float) else f"{k[5:]} {v}" for k, v in shown.items()
            )
            line = f"[{name}] step {state.global_step}: {figures}"
            if shown and line != self.said:
                self.said = line
                write = self.training_bar.write if self.training_bar is not None else print
                write(line, file=sys.stderr)

    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(QuietProgress)


def close_bars(trainer) -> None:
    """Close the Trainer's progress bars (an interrupted train() leaves them open, to be redrawn under our last
    message when they are garbage-collected)."""
    from transformers.trainer_callback import ProgressCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, ProgressCallback):
            for bar in (callback.training_bar, callback.prediction_bar):
                if bar is not None:
                    bar.close()

"""Evaluation metrics: hfpipeline's own `evaluate` modules (loaded offline by path) and pass-through to the Hub.
Imports `evaluate` lazily so that importing this package stays fast."""

from pathlib import Path

OURS = ("accuracy", "f1", "rouge", "sacrebleu", "chrf")


def metric_path(name: str) -> str:
    """Directory of our metric module `name` (holding `<name>.py`), as `evaluate.load` accepts it."""
    if name not in OURS:
        raise KeyError(f"{name!r} is not one of hfpipeline's metrics: {', '.join(OURS)}")
    return str(Path(__file__).parent / name)


def load_metric(name: str, **kwargs):
    """Load our metric `name` by local path (works offline); any other name goes to `evaluate.load` (Hub)."""
    import evaluate

    return evaluate.load(metric_path(name) if name in OURS else name, **kwargs)

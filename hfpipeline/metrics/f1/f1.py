"""F1 metric for `evaluate`: same inputs, kwargs and output as the Hub's "f1" (scikit-learn's f1_score),
computed with numpy. Load it with `evaluate.load(<this directory>)`; config "multilabel" takes indicator rows."""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "F1 = 2 * (precision * recall) / (precision + recall), per label and averaged like scikit-learn."

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): Predicted labels (rows of 0/1 indicators with config "multilabel").
    references (`list` of `int`): Ground truth labels, same shape as predictions.
    labels (`list` of `int`): Labels to include when average is not "binary", and their order when average is None.
        Defaults to all labels present in predictions and references, sorted (column indices for multilabel).
    pos_label (`int`): The positive class when average is "binary". Defaults to 1.
    average (`str` or None): "binary" (default), "micro", "macro", "weighted", "samples" (multilabel only),
        or None for one score per label.
    sample_weight (`list` of `float`): Sample weights. Defaults to None.
Returns:
    f1 (`float`, or numpy array of floats when average is None). A 0/0 ratio counts as 0.
"""


def _int_features(multilabel: bool) -> datasets.Features:
    """Int labels, or sequences of int indicators for the multilabel config."""
    value = datasets.Sequence(datasets.Value("int32")) if multilabel else datasets.Value("int32")
    return datasets.Features({"predictions": value, "references": value})


def _ratio(num, den):
    """num / den elementwise, 0 where den is 0."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def _indicators(y_true, y_pred, labels, pos_label, average):
    """Boolean (samples x labels) matrices for references and predictions."""
    if y_true.ndim > 1:
        if average == "binary":
            raise ValueError("average='binary' does not apply to multilabel targets: use micro/macro/weighted/samples")
        cols = np.arange(y_true.shape[1]) if labels is None else np.asarray(labels)
        return y_true[:, cols].astype(bool), y_pred[:, cols].astype(bool)
    if average == "samples":
        raise ValueError("average='samples' is only meaningful for multilabel targets")
    present = np.union1d(y_true, y_pred)
    if average == "binary":
        if len(present) > 2:
            raise ValueError("Target is multiclass but average='binary'; choose micro/macro/weighted/None")
        if len(present) == 2 and pos_label not in present:
            raise ValueError(f"pos_label={pos_label!r} is not a valid label: it should be one of {present.tolist()}")
        labels = [pos_label]
    cols = np.asarray(present if labels is None else labels)
    return y_true[:, None] == cols[None, :], y_pred[:, None] == cols[None, :]


def f1_score(references, predictions, labels=None, pos_label=1, average="binary", sample_weight=None):
    """F1 like sklearn.metrics.f1_score (zero_division=0)."""
    true, pred = _indicators(np.asarray(references), np.asarray(predictions), labels, pos_label, average)
    w = np.ones(len(true)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if average == "samples":
        per_sample = _ratio(2 * (true & pred).sum(1), true.sum(1) + pred.sum(1))
        return np.asarray(np.average(per_sample, weights=w))
    tp, true_sum, pred_sum = w @ (true & pred), w @ true, w @ pred
    if average == "micro":
        tp, true_sum, pred_sum = tp.sum(), true_sum.sum(), pred_sum.sum()
    f1 = _ratio(2 * tp, true_sum + pred_sum)
    if average == "weighted":
        return np.asarray(0.0 if true_sum.sum() == 0 else np.average(f1, weights=true_sum))
    if average in ("macro", "binary"):
        return np.asarray(f1.mean())
    if average in ("micro", None):
        return f1
    raise ValueError(f"average={average!r} is not one of binary, micro, macro, weighted, samples, None")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class F1(evaluate.Metric):
    """F1 computed with numpy (no scikit-learn)."""

    def _info(self):
        """Describe inputs and outputs."""
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=_int_features(self.config_name == "multilabel"),
        )

    def _compute(self, predictions, references, labels=None, pos_label=1, average="binary", sample_weight=None):
        """Return {"f1": float}, or {"f1": array} when average is None."""
        score = f1_score(references, predictions, labels, pos_label, average, sample_weight)
        return {"f1": float(score) if score.size == 1 else score}

"""Macro-F1 metric for `evaluate`, as hfpipeline's classify stage calls it: integer labels in, the unweighted mean
of the per-label F1 over every label seen in predictions or references out (scikit-learn's f1_score with
average="macro"). Load it with `evaluate.load(<this directory>)`."""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Macro-F1: per label F1 = 2 * precision * recall / (precision + recall), averaged over the labels."

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): Predicted labels.
    references (`list` of `int`): Ground truth labels.
Returns:
    f1 (`float`): Mean F1 over the labels present in predictions or references (a label never predicted, or
        never true, scores 0).
"""


def macro_f1(references, predictions) -> float:
    """Mean over the labels present of 2TP / (2TP + FP + FN), i.e. 2TP / (#true + #predicted)."""
    true, pred = np.asarray(references), np.asarray(predictions)
    labels = np.union1d(true, pred)[:, None]  # each label is true or predicted at least once: no 0/0
    is_true, is_pred = true[None, :] == labels, pred[None, :] == labels
    return float(np.mean(2 * (is_true & is_pred).sum(1) / (is_true.sum(1) + is_pred.sum(1))))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class F1(evaluate.Metric):
    """Macro-F1 computed with numpy."""

    def _info(self):
        """Describe inputs and outputs."""
        label = datasets.Value("int32")
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": label, "references": label}),
        )

    def _compute(self, predictions, references):
        """Return {"f1": float}."""
        return {"f1": macro_f1(references, predictions)}

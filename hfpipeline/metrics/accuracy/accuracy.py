"""Accuracy metric for `evaluate`: same inputs, kwargs and output as the Hub's "accuracy", computed with numpy.
Load it with `evaluate.load(<this directory>)`; config "multilabel" takes label-indicator rows (subset accuracy)."""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Accuracy: the proportion of correct predictions among all predictions."

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): Predicted labels (rows of 0/1 indicators with config "multilabel").
    references (`list` of `int`): Ground truth labels, same shape as predictions.
    normalize (`bool`): If False, return the (weighted) number of correct predictions. Defaults to True.
    sample_weight (`list` of `float`): Sample weights. Defaults to None.
Returns:
    accuracy (`float`): Fraction (or weighted count) of correctly classified samples.
"""


def _int_features(multilabel: bool) -> datasets.Features:
    """Int labels, or sequences of int indicators for the multilabel config."""
    value = datasets.Sequence(datasets.Value("int32")) if multilabel else datasets.Value("int32")
    return datasets.Features({"predictions": value, "references": value})


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(evaluate.Metric):
    """Accuracy computed with numpy (no scikit-learn)."""

    def _info(self):
        """Describe inputs and outputs."""
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=_int_features(self.config_name == "multilabel"),
        )

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        """Return {"accuracy": float}; a multilabel row counts as correct only if all its labels match."""
        correct = np.asarray(predictions) == np.asarray(references)
        if correct.ndim > 1:
            correct = correct.all(axis=1)
        if normalize:
            return {"accuracy": float(np.average(correct, weights=sample_weight))}
        weights = np.ones(len(correct)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        return {"accuracy": float(np.dot(correct, weights))}

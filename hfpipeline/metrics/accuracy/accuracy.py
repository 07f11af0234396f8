"""Accuracy metric for `evaluate`, as hfpipeline's classify stage calls it: integer labels in, the fraction of
predictions equal to their reference out. Load it with `evaluate.load(<this directory>)`."""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Accuracy: the proportion of correct predictions among all predictions."

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): Predicted labels.
    references (`list` of `int`): Ground truth labels.
Returns:
    accuracy (`float`): Fraction of correctly classified samples.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(evaluate.Metric):
    """Accuracy computed with numpy."""

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
        """Return {"accuracy": float}."""
        return {"accuracy": float(np.mean(np.asarray(predictions) == np.asarray(references)))}

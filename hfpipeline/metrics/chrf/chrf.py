"""chrF metric for `evaluate`, as hfpipeline's seq2seq scores call it: one reference per prediction, corpus chrF2
with sacreBLEU's defaults (character 6-grams, no word n-grams, beta 2). Load it with `evaluate.load(<this dir>)`."""

import datasets
import evaluate
from sacrebleu import CHRF

_DESCRIPTION = "chrF: character n-gram F-score (recall weighted twice as much as precision), computed by sacreBLEU."

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): The predicted sentences.
    references (`list` of `str`): One reference per prediction.
Returns:
    score (`float`): Corpus chrF, 0-100.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ChrF(evaluate.Metric):
    """Corpus chrF via sacrebleu.CHRF."""

    def _info(self):
        """Describe inputs and outputs."""
        text = datasets.Value("string", id="sequence")
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": text, "references": text}),
        )

    def _compute(self, predictions, references):
        """Return {"score": corpus chrF}."""
        return {"score": CHRF().corpus_score(predictions, [references]).score}

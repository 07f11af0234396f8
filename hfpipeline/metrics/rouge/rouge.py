"""ROUGE metric for `evaluate`, as hfpipeline's seq2seq scores call it: one reference per prediction, Porter-stemmed
rouge1/rouge2/rougeL/rougeLsum F-measures per pair via the `rouge_score` package (no bootstrap aggregation).
Load it with `evaluate.load(<this directory>)`. rougeLsum splits texts into sentences on newlines."""

import datasets
import evaluate
from rouge_score import rouge_scorer

_DESCRIPTION = (
    "ROUGE F-measures (Google Research's rouge_score reimplementation of ROUGE-1.5.5); stemmed, case-insensitive."
)

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): Texts to score, one sentence per line for rougeLsum.
    references (`list` of `str`): One reference per prediction, one sentence per line.
Returns:
    rouge1, rouge2, rougeL, rougeLsum (`list` of `float`): The F-measure of each prediction.
"""

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Rouge(evaluate.Metric):
    """ROUGE via rouge_score."""

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
        """Return each rouge type's per-pair F-measures."""
        scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
        scores = [scorer.score(ref, pred) for ref, pred in zip(references, predictions)]
        return {key: [float(s[key].fmeasure) for s in scores] for key in ROUGE_TYPES}

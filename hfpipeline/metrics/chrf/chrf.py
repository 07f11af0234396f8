"""chrF / chrF++ metric for `evaluate`: same inputs, kwargs and output as the Hub's "chrf", via `sacrebleu`.
Load it with `evaluate.load(<this directory>)`."""

import datasets
import evaluate
from sacrebleu import CHRF

_DESCRIPTION = "chrF: character n-gram F-score; chrF++ (word_order=2) adds word n-grams. Computed by sacreBLEU."

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): The predicted sentences.
    references (`list` of `list` of `str`, or `list` of `str`): The references of each prediction; every
        prediction must have the same number of references.
    char_order (`int`): Character n-gram order. Defaults to 6.
    word_order (`int`): Word n-gram order; 2 gives chrF++. Defaults to 0.
    beta (`int`): Weight of recall relative to precision. Defaults to 2.
    lowercase (`bool`): Case-insensitive scoring. Defaults to False.
    whitespace (`bool`): Include whitespace in character n-grams. Defaults to False.
    eps_smoothing (`bool`): Epsilon smoothing as in chrF++.py/NLTK/Moses; else effective order. Defaults to False.
Returns:
    score, char_order, word_order, beta.
"""


def transpose_references(references):
    """Per-prediction reference lists -> sacreBLEU's per-reference-stream lists."""
    if isinstance(references[0], str):
        references = [[ref] for ref in references]
    per_prediction = len(references[0])
    if any(len(refs) != per_prediction for refs in references):
        raise ValueError("chrF needs the same number of references for each prediction")
    return [[refs[i] for refs in references] for i in range(per_prediction)]


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ChrF(evaluate.Metric):
    """Corpus chrF(++) via sacrebleu.CHRF."""

    def _info(self):
        """Describe inputs (one or several references per prediction) and outputs."""
        text = datasets.Value("string", id="sequence")
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features({"predictions": text, "references": datasets.Sequence(text, id="references")}),
                datasets.Features({"predictions": text, "references": text}),
            ],
        )

    def _compute(self, predictions, references, char_order=CHRF.CHAR_ORDER, word_order=CHRF.WORD_ORDER,
                 beta=CHRF.BETA, lowercase=False, whitespace=False, eps_smoothing=False):
        """Return the corpus chrF score and its settings."""
        chrf = CHRF(char_order, word_order, beta, lowercase, whitespace, eps_smoothing)
        output = chrf.corpus_score(predictions, transpose_references(references))
        return {"score": output.score, "char_order": output.char_order, "word_order": output.word_order,
                "beta": output.beta}

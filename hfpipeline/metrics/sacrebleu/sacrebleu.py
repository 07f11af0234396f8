"""SacreBLEU metric for `evaluate`, as hfpipeline's seq2seq scores call it: one reference per prediction, corpus
BLEU with sacreBLEU's defaults (13a tokenizer, exp smoothing). Load it with `evaluate.load(<this directory>)`."""

import datasets
import evaluate
import sacrebleu as scb

_DESCRIPTION = "Corpus BLEU as computed by sacreBLEU (shareable, reproducible BLEU on detokenized text)."

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): Translations to score (detokenized).
    references (`list` of `str`): One reference per prediction.
Returns:
    score (`float`): Corpus BLEU, 0-100.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Sacrebleu(evaluate.Metric):
    """Corpus BLEU via sacrebleu.corpus_bleu."""

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
        """Return {"score": corpus BLEU}."""
        return {"score": scb.corpus_bleu(predictions, [references]).score}

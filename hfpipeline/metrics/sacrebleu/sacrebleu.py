"""SacreBLEU metric for `evaluate`: same inputs, kwargs and output as the Hub's "sacrebleu", via `sacrebleu`.
Load it with `evaluate.load(<this directory>)`."""

import datasets
import evaluate
import sacrebleu as scb

_DESCRIPTION = "Corpus BLEU as computed by sacreBLEU (shareable, reproducible BLEU on detokenized text)."

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): Translations to score (detokenized).
    references (`list` of `list` of `str`, or `list` of `str`): The references of each prediction; every
        prediction must have the same number of references.
    smooth_method (`str`): "none", "floor", "add-k" or "exp" (default).
    smooth_value (`float`): Smoothing value for "floor" (default 0.1) and "add-k" (default 1).
    tokenize (`str`): sacreBLEU tokenizer ("none", "zh", "13a", "intl", "char", "ja-mecab", ...). Defaults to
        sacreBLEU's default ("13a").
    lowercase (`bool`): Case-insensitive scoring. Defaults to False.
    force (`bool`): Insist that the input is detokenized. Defaults to False.
    use_effective_order (`bool`): Skip n-gram orders with no matches (for sentence-level BLEU). Defaults to False.
Returns:
    score, counts, totals, precisions, bp (brevity penalty), sys_len, ref_len.
"""


def transpose_references(references):
    """Per-prediction reference lists -> sacreBLEU's per-reference-stream lists."""
    if isinstance(references[0], str):
        references = [[ref] for ref in references]
    per_prediction = len(references[0])
    if any(len(refs) != per_prediction for refs in references):
        raise ValueError("sacreBLEU needs the same number of references for each prediction")
    return [[refs[i] for refs in references] for i in range(per_prediction)]


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Sacrebleu(evaluate.Metric):
    """Corpus BLEU via sacrebleu.corpus_bleu."""

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

    def _compute(self, predictions, references, smooth_method="exp", smooth_value=None, force=False,
                 lowercase=False, tokenize=None, use_effective_order=False):
        """Return BLEU and its sufficient statistics."""
        output = scb.corpus_bleu(
            predictions, transpose_references(references), smooth_method=smooth_method,
            smooth_value=smooth_value, force=force, lowercase=lowercase, use_effective_order=use_effective_order,
            **({"tokenize": tokenize} if tokenize else {}),
        )
        return {
            "score": output.score, "counts": output.counts, "totals": output.totals,
            "precisions": output.precisions, "bp": output.bp, "sys_len": output.sys_len, "ref_len": output.ref_len,
        }

"""ROUGE metric for `evaluate`: same inputs, kwargs and output as the Hub's "rouge", via the `rouge_score` package.
Load it with `evaluate.load(<this directory>)`. rougeLsum splits texts into sentences on newlines."""

import datasets
import evaluate
from rouge_score import rouge_scorer, scoring

_DESCRIPTION = "ROUGE F-measures (Google Research's rouge_score reimplementation of ROUGE-1.5.5); case-insensitive."

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): Texts to score.
    references (`list` of `str`, or `list` of `list` of `str`): One reference (or a list of them) per prediction.
    rouge_types (`list` of `str`): "rouge{n}" (n-gram overlap), "rougeL" (longest common subsequence),
        "rougeLsum" (summary-level LCS over sentences split on "\\n"). Defaults to rouge1, rouge2, rougeL, rougeLsum.
    use_stemmer (`bool`): Strip word suffixes with the Porter stemmer. Defaults to False.
    use_aggregator (`bool`): Return bootstrap-aggregated (mid) scores; else one list of scores per type. Default True.
    tokenizer (callable): str -> list of tokens, replacing rouge_score's default tokenizer. Defaults to None.
Returns:
    One F-measure (`float`, or `list` of `float` without the aggregator) per rouge type.
"""


class Tokenizer:
    """Wrap a callable as the object with a `tokenize` method that rouge_score expects."""

    def __init__(self, tokenizer_func):
        self.tokenizer_func = tokenizer_func

    def tokenize(self, text):
        """Split text into tokens."""
        return self.tokenizer_func(text)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Rouge(evaluate.Metric):
    """ROUGE via rouge_score."""

    def _info(self):
        """Describe inputs (one or several references per prediction) and outputs."""
        text = datasets.Value("string", id="sequence")
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features({"predictions": text, "references": datasets.Sequence(text)}),
                datasets.Features({"predictions": text, "references": text}),
            ],
        )

    def _compute(self, predictions, references, rouge_types=None, use_aggregator=True, use_stemmer=False,
                 tokenizer=None):
        """Score each pair, then aggregate (bootstrap mid F-measure) or list the per-pair F-measures."""
        rouge_types = rouge_types or ["rouge1", "rouge2", "rougeL", "rougeLsum"]
        tokenizer = Tokenizer(tokenizer) if tokenizer is not None else None
        scorer = rouge_scorer.RougeScorer(rouge_types=rouge_types, use_stemmer=use_stemmer, tokenizer=tokenizer)
        multi_ref = isinstance(references[0], list)
        scores = [scorer.score_multi(ref, pred) if multi_ref else scorer.score(ref, pred)
                  for ref, pred in zip(references, predictions)]
        if not use_aggregator:
            return {key: [float(s[key].fmeasure) for s in scores] for key in rouge_types}
        aggregator = scoring.BootstrapAggregator()
        for score in scores:
            aggregator.add_scores(score)
        return {key: float(value.mid.fmeasure) for key, value in aggregator.aggregate().items()}

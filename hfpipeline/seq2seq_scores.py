"""Scores of generated text through hfpipeline's evaluate modules: ROUGE and the lead-N baseline for summaries,
sacreBLEU and chrF for translations, exact match for both. All scores are on a 0-100 scale."""

import re
import statistics

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    """Split text into sentences after . ! or ? followed by whitespace."""
    return [s for s in SENTENCE_END.split(text.strip()) if s]


def lead(document: str, n: int) -> str:
    """The lead-N baseline summary: the document's first n sentences."""
    return " ".join(sentences(document)[:n])


def lead_size(summaries: list[str]) -> int:
    """N for the lead-N baseline: the reference summaries' median sentence count (at least 1)."""
    return max(1, round(statistics.median(len(sentences(s)) for s in summaries))) if summaries else 1


def rouge(predictions: list[str], references: list[str]) -> dict:
    """Mean ROUGE-1/2/L/Lsum F-measures (stemmed); rougeLsum sees one sentence per line."""
    from hfpipeline.metrics import load_metric

    def lines(texts):
        return ["\n".join(sentences(t)) for t in texts]

    scores = load_metric("rouge").compute(predictions=lines(predictions), references=lines(references))
    return {key: round(100 * statistics.fmean(values), 2) for key, values in scores.items()}


def translation(predictions: list[str], references: list[str]) -> dict:
    """Corpus sacreBLEU and chrF against one reference per prediction."""
    from hfpipeline.metrics import load_metric

    bleu = load_metric("sacrebleu").compute(predictions=predictions, references=references)["score"]
    chrf = load_metric("chrf").compute(predictions=predictions, references=references)["score"]
    return {"sacrebleu": round(bleu, 2), "chrf": round(chrf, 2)}


def exact_match(predictions: list[str], references: list[str]) -> float:
    """Percentage of predictions equal to their reference, ignoring surrounding and repeated whitespace."""
    same = sum(" ".join(p.split()) == " ".join(r.split()) for p, r in zip(predictions, references))
    return round(100 * same / max(len(references), 1), 2)


def score(
    task: str,
    predictions: list[str],
    references: list[str],
    sources: list[str] | None = None,
    lead_n: int | None = None,
) -> dict:
    """The task's scores; for summaries with `sources`, also the lead-`lead_n` baseline's ROUGE (lead_rouge1, ...)."""
    out = rouge(predictions, references) if task == "summarize" else translation(predictions, references)
    out["exact_match"] = exact_match(predictions, references)
    out["gen_words"] = round(statistics.fmean(len(p.split()) for p in predictions), 2) if predictions else 0.0
    if task == "summarize" and sources is not None:
        n = lead_n or 1
        baseline = rouge([lead(doc, n) for doc in sources], references)
        out.update({f"lead_{key}": value for key, value in baseline.items()}, lead_n=n)
    return out

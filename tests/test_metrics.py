"""hfpipeline's own evaluate metric modules, loaded offline by path, as the project calls them (accuracy and macro-F1
for classify; stemmed per-pair ROUGE, sacreBLEU and chrF on one reference for seq2seq), checked against
hand-computed values and against the libraries they wrap (rouge_score, sacrebleu)."""

import math
import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sacrebleu  # noqa: E402
from rouge_score import rouge_scorer  # noqa: E402

from hfpipeline.metrics import OURS, load_metric, metric_path  # noqa: E402

ROUGE_TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


def f1_from_counts(tp, fp, fn):
    """F1 = 2TP / (2TP + FP + FN)."""
    return 2 * tp / (2 * tp + fp + fn)


@pytest.fixture(scope="module")
def f1():
    return load_metric("f1")


@pytest.fixture(scope="module")
def rouge():
    return load_metric("rouge")


def test_metrics_package_imports_without_evaluate_or_torch():
    code = "import sys, hfpipeline.metrics; print(sorted({'evaluate', 'torch', 'datasets'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_each_metric_dir_holds_its_script():
    for name in OURS:
        assert os.path.isfile(os.path.join(metric_path(name), f"{name}.py"))
    with pytest.raises(KeyError, match="bleu"):
        metric_path("bleu")


def test_accuracy_on_trainer_style_numpy_labels():
    accuracy = load_metric("accuracy")
    preds, refs = np.array([0, 1, 2, 1, 0]), np.array([0, 1, 1, 1, 2])  # samples 0, 1, 3 are right
    assert accuracy.compute(predictions=preds, references=refs) == {"accuracy": pytest.approx(3 / 5)}
    assert accuracy.compute(predictions=[4, 4], references=[4, 4]) == {"accuracy": 1.0}


def test_f1_is_macro_over_every_label_seen(f1):
    refs, preds = [0, 0, 0, 1, 1, 2, 3], [0, 0, 1, 1, 2, 2, 4]
    # 0: TP 2 FP 0 FN 1; 1: TP 1 FP 1 FN 1; 2: TP 1 FP 1 FN 0; 3 never predicted, 4 never true: both score 0
    per_label = [f1_from_counts(2, 0, 1), f1_from_counts(1, 1, 1), f1_from_counts(1, 1, 0), 0.0, 0.0]
    assert f1.compute(predictions=preds, references=refs) == {"f1": pytest.approx(sum(per_label) / 5)}
    assert f1.compute(predictions=[1, 2, 3], references=[1, 2, 3]) == {"f1": 1.0}


def test_f1_on_two_classes_is_macro_not_binary(f1):
    refs, preds = [0, 1, 0, 1, 0], [0, 0, 1, 1, 0]
    # 0: TP 2 FP 1 FN 1 -> 2/3; 1: TP 1 FP 1 FN 1 -> 1/2 (binary F1 of label 1 would be 1/2)
    assert f1.compute(predictions=np.array(preds), references=np.array(refs))["f1"] == pytest.approx(7 / 12)


def test_options_the_project_does_not_use_are_refused_not_ignored(f1, rouge):
    with pytest.raises(TypeError, match="average"):
        f1.compute(predictions=[0, 1], references=[0, 1], average="weighted")
    with pytest.raises(TypeError, match="use_aggregator"):
        rouge.compute(predictions=["a"], references=["a"], use_aggregator=True)


def test_rouge_hand_checkable_cases(rouge):
    same = rouge.compute(predictions=["the cat sat", "a dog"], references=["the cat sat", "a dog"])
    assert same == {key: [1.0, 1.0] for key in ROUGE_TYPES}
    disjoint = rouge.compute(predictions=["the cat sat"], references=["dogs run far"])
    assert disjoint == {key: [0.0] for key in ROUGE_TYPES}
    small = rouge.compute(predictions=["the cat sat", "x"], references=["the cat ran away", "x"])
    # unigrams: 2 shared, P = 2/3, R = 2/4; bigrams: "the cat" shared, P = 1/2, R = 1/3; LCS "the cat" = 2
    assert small["rouge1"] == pytest.approx([2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4), 1.0])
    assert small["rouge2"] == pytest.approx([2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3), 0.0])  # "x" has no bigram
    assert small["rougeL"] == small["rouge1"]


def test_rouge_stems_words(rouge):
    # Porter stems: dogs -> dog, barked/barking -> bark; unstemmed only "the" would match
    got = rouge.compute(predictions=["The dogs barked"], references=["the dog barking"])
    assert got == {key: [1.0] for key in ROUGE_TYPES}


def test_rouge_lsum_splits_on_newlines(rouge):
    # token-level LCS of "a b c d" vs "c d a b" is 2 of 4; sentence-wise both sentences match fully
    got = rouge.compute(predictions=["a b\nc d"], references=["c d\na b"])
    assert got["rougeL"] == [pytest.approx(0.5)] and got["rougeLsum"] == [pytest.approx(1.0)]


def test_rouge_matches_rouge_score(rouge):
    preds = ["The quick brown foxes jumped over the lazy dog.", "A summary of\nthe whole day", "Cats were running"]
    refs = ["the quick brown fox jumps over a lazy dog", "summary of a day\nthe day", "a cat runs"]
    scorer = rouge_scorer.RougeScorer(ROUGE_TYPES, use_stemmer=True)
    direct = [scorer.score(r, p) for r, p in zip(refs, preds)]
    got = rouge.compute(predictions=preds, references=refs)
    assert got == {key: pytest.approx([d[key].fmeasure for d in direct]) for key in ROUGE_TYPES}


def test_sacrebleu_hand_computed_corpus_bleu():
    bleu = load_metric("sacrebleu")
    longer, shorter = "the cat sat on the mat today", "the cat sat on the mat"
    # 1- to 4-gram precisions 6/7, 5/6, 4/5, 3/4; longer than the reference: no brevity penalty
    got = bleu.compute(predictions=[longer], references=[shorter])
    assert got == {"score": pytest.approx(100 * (3 / 7) ** (1 / 4))}
    # all precisions 1, brevity penalty exp(1 - 7/6)
    assert bleu.compute(predictions=[shorter], references=[longer])["score"] == pytest.approx(100 * math.exp(-1 / 6))
    # corpus BLEU sums the n-gram counts (12/13, 10/11, 8/9, 6/7; lengths 13 and 13), not the sentence scores
    got = bleu.compute(predictions=[longer, shorter], references=[shorter, longer])["score"]
    assert got == pytest.approx(100 * (12 / 13 * 10 / 11 * 8 / 9 * 6 / 7) ** (1 / 4))
    # no 4-gram matches: "exp" smoothing counts the first zero order as 1 / (2 * its total), here 1/2
    got = bleu.compute(predictions=["a b c d"], references=["a b c e"])["score"]
    assert got == pytest.approx(100 * (3 / 4 * 2 / 3 * 1 / 2 * 1 / 2) ** (1 / 4))


def test_sacrebleu_matches_corpus_bleu():
    bleu = load_metric("sacrebleu")
    preds = ["Hello there, general Kenobi!", "on our way to ankh morpork", "The cat is on the mat."]
    refs = ["hello there general kenobi", "goodbye ankh morpork", "There is a cat on the mat."]
    assert bleu.compute(predictions=preds, references=refs) == {
        "score": pytest.approx(sacrebleu.corpus_bleu(preds, [refs]).score)
    }


def test_chrf_hand_computed_chrf2():
    chrf = load_metric("chrf")
    # "ab" vs "abc": 1-grams P 2/2 R 2/3, 2-grams P 1/1 R 1/2, no 3-grams in the hypothesis; averaged over those
    # two orders P = 1, R = 7/12, and F_beta with beta = 2 is 5PR / (4P + R)
    assert chrf.compute(predictions=["ab"], references=["abc"]) == {"score": pytest.approx(100 * 7 / 11)}
    # swapped, P = 7/12 and R = 1: recall counts more, so this scores higher
    assert chrf.compute(predictions=["abc"], references=["ab"]) == {"score": pytest.approx(100 * 7 / 8)}
    # whitespace is ignored: the character n-grams run across the word boundary
    assert chrf.compute(predictions=["a bc"], references=["abc"])["score"] == pytest.approx(100.0)


def test_chrf_matches_corpus_chrf():
    chrf = load_metric("chrf")
    preds = ["The relationship between cats and dogs is not exactly friendly.", "a good bookshop is a black hole"]
    refs = [
        "The relationship between dogs and cats is not exactly friendly.",
        "A good bookshop is just a genteel Black Hole that knows how to read.",
    ]
    assert chrf.compute(predictions=preds, references=refs) == {
        "score": pytest.approx(sacrebleu.corpus_chrf(preds, [refs]).score)
    }


def test_other_names_pass_through_to_evaluate_load(monkeypatch):
    import evaluate

    calls = []
    monkeypatch.setattr(evaluate, "load", lambda path, **kw: calls.append((path, kw)) or "loaded")
    assert load_metric("bertscore", config_name="x") == "loaded"
    load_metric("rouge")
    assert calls == [("bertscore", {"config_name": "x"}), (metric_path("rouge"), {})]

"""hfpipeline's own evaluate metric modules, loaded offline by path, checked against hand-computed values
and against the libraries they wrap (rouge_score, sacrebleu)."""

import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sacrebleu  # noqa: E402
from rouge_score import rouge_scorer  # noqa: E402

from hfpipeline.metrics import OURS, load_metric, metric_path  # noqa: E402


def f1_from_counts(tp, fp, fn):
    """F1 = 2TP / (2TP + FP + FN)."""
    return 2 * tp / (2 * tp + fp + fn)


@pytest.fixture(scope="module")
def f1():
    return load_metric("f1")


def test_metrics_package_imports_without_evaluate_or_torch():
    code = "import sys, hfpipeline.metrics; print(sorted({'evaluate', 'torch', 'datasets'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_each_metric_dir_holds_its_script():
    for name in OURS:
        assert os.path.isfile(os.path.join(metric_path(name), f"{name}.py"))
    with pytest.raises(KeyError, match="bleu"):
        metric_path("bleu")


def test_accuracy_plain_unnormalized_and_weighted():
    accuracy = load_metric("accuracy")
    preds, refs = [0, 1, 2, 1, 0], [0, 1, 1, 1, 2]  # samples 0, 1, 3 are right
    assert accuracy.compute(predictions=preds, references=refs) == {"accuracy": pytest.approx(3 / 5)}
    assert accuracy.compute(predictions=preds, references=refs, normalize=False)["accuracy"] == 3
    weights = [1.0, 2.0, 3.0, 0.5, 0.5]  # right: 1 + 2 + 0.5 of 7
    assert accuracy.compute(predictions=preds, references=refs, sample_weight=weights)["accuracy"] == pytest.approx(
        3.5 / 7)
    assert accuracy.compute(predictions=preds, references=refs, sample_weight=weights, normalize=False)[
        "accuracy"] == pytest.approx(3.5)


def test_accuracy_multilabel_counts_whole_rows():
    accuracy = load_metric("accuracy", config_name="multilabel")
    result = accuracy.compute(predictions=[[0, 1, 1], [1, 1, 0]], references=[[0, 1, 1], [0, 1, 0]])
    assert result["accuracy"] == pytest.approx(1 / 2)


def test_f1_binary_with_pos_label_and_weights(f1):
    refs, preds = [0, 1, 0, 1, 0], [0, 0, 1, 1, 0]
    # pos 1: TP = sample 3, FP = sample 2, FN = sample 1
    assert f1.compute(predictions=preds, references=refs)["f1"] == pytest.approx(f1_from_counts(1, 1, 1))
    # pos 0: TP = samples 0 and 4, FP = sample 1, FN = sample 2
    assert f1.compute(predictions=preds, references=refs, pos_label=0)["f1"] == pytest.approx(f1_from_counts(2, 1, 1))
    weights = [0.9, 0.5, 3.9, 1.2, 0.3]
    got = f1.compute(predictions=preds, references=refs, sample_weight=weights)["f1"]
    assert got == pytest.approx(f1_from_counts(1.2, 3.9, 0.5))


def test_f1_multiclass_averages(f1):
    refs, preds = [0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2]
    # class 0: TP 2 FP 0 FN 1; class 1: TP 1 FP 1 FN 1; class 2: TP 1 FP 1 FN 0; supports 3, 2, 1
    per_class = [f1_from_counts(2, 0, 1), f1_from_counts(1, 1, 1), f1_from_counts(1, 1, 0)]

    def score(**kw):
        return f1.compute(predictions=preds, references=refs, **kw)["f1"]

    assert score(average="macro") == pytest.approx(sum(per_class) / 3)
    assert score(average="weighted") == pytest.approx((3 * per_class[0] + 2 * per_class[1] + per_class[2]) / 6)
    assert score(average="micro") == pytest.approx(f1_from_counts(4, 2, 2))
    np.testing.assert_allclose(score(average=None), per_class)
    assert score(average="macro", labels=[1, 2]) == pytest.approx((per_class[1] + per_class[2]) / 2)
    assert score(average="micro", labels=[1, 2]) == pytest.approx(f1_from_counts(2, 2, 1))
    assert score(average="macro", labels=[0, 1, 2, 3]) == pytest.approx(sum(per_class) / 4)  # absent label scores 0
    with pytest.raises(ValueError, match="multiclass"):
        score()


def test_f1_multilabel_macro_and_samples():
    f1 = load_metric("f1", config_name="multilabel")
    preds, refs = [[0, 1, 1], [1, 1, 0]], [[0, 1, 1], [0, 1, 0]]
    # columns: 0 TP 0 FP 1 -> 0; 1 TP 2 -> 1; 2 TP 1 -> 1
    assert f1.compute(predictions=preds, references=refs, average="macro")["f1"] == pytest.approx(2 / 3)
    # rows: first exact -> 1; second TP 1 FP 1 FN 0
    got = f1.compute(predictions=preds, references=refs, average="samples")["f1"]
    assert got == pytest.approx((1 + f1_from_counts(1, 1, 0)) / 2)


def test_rouge_hand_checkable_cases():
    rouge = load_metric("rouge")
    same = rouge.compute(predictions=["the cat sat", "a dog"], references=["the cat sat", "a dog"])
    assert same == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0, "rougeLsum": 1.0}
    disjoint = rouge.compute(predictions=["the cat sat"], references=["dogs run far"])
    assert disjoint == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0, "rougeLsum": 0.0}
    small = rouge.compute(predictions=["the cat sat"], references=["the cat ran away"], use_aggregator=False)
    # unigrams: 2 shared, P = 2/3, R = 2/4; bigrams: "the cat" shared, P = 1/2, R = 1/3; LCS "the cat" = 2
    assert small["rouge1"] == [pytest.approx(2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4))]
    assert small["rouge2"] == [pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))]
    assert small["rougeL"] == small["rouge1"]


def test_rouge_lsum_splits_on_newlines():
    rouge = load_metric("rouge")
    # token-level LCS of "a b c d" vs "c d a b" is 2 of 4; sentence-wise both sentences match fully
    got = rouge.compute(predictions=["a b\nc d"], references=["c d\na b"], rouge_types=["rougeL", "rougeLsum"])
    assert got == {"rougeL": pytest.approx(0.5), "rougeLsum": pytest.approx(1.0)}


def test_rouge_matches_rouge_score():
    rouge = load_metric("rouge")
    preds = ["The quick brown foxes jumped over the lazy dog.", "A summary of\nthe whole day"]
    refs = [["the quick brown fox jumps over a lazy dog", "foxes are quick"], ["summary of a day\nthe day", "x"]]
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    for stem in (False, True):
        scorer = rouge_scorer.RougeScorer(types, use_stemmer=stem)
        direct = [scorer.score_multi(r, p) for r, p in zip(refs, preds)]
        got = rouge.compute(predictions=preds, references=refs, use_aggregator=False, use_stemmer=stem)
        for key in types:
            assert got[key] == pytest.approx([d[key].fmeasure for d in direct])
    got = rouge.compute(predictions=["ab cd"], references=["ab-cd"], tokenizer=str.split, rouge_types=["rouge1"])
    assert got == {"rouge1": 0.0}  # whitespace tokenizer keeps "ab-cd" whole


def test_sacrebleu_matches_corpus_bleu():
    bleu = load_metric("sacrebleu")
    preds = ["hello there general kenobi", "on our way to ankh morpork", "The cat is on the mat."]
    refs = [["hello there general kenobi", "hello there !"], ["goodbye ankh morpork", "ankh morpork"],
            ["There is a cat on the mat.", "A cat sits on the mat."]]
    streams = [[r[i] for r in refs] for i in range(2)]
    for kw in ({}, {"lowercase": True, "tokenize": "char"}, {"smooth_method": "floor", "smooth_value": 0.2}):
        got = bleu.compute(predictions=preds, references=refs, **kw)
        want = sacrebleu.corpus_bleu(preds, streams, **kw)
        assert got["score"] == pytest.approx(want.score)
        assert (got["counts"], got["totals"], got["sys_len"], got["ref_len"]) == (
            want.counts, want.totals, want.sys_len, want.ref_len)
        assert got["precisions"] == pytest.approx(want.precisions) and got["bp"] == pytest.approx(want.bp)
    same = bleu.compute(predictions=["the cat is on the mat"], references=["the cat is on the mat"])
    assert same["score"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="same number of references"):
        bleu.compute(predictions=["a b", "c d"], references=[["a b"], ["c d", "e f"]])


def test_chrf_matches_corpus_chrf():
    chrf = load_metric("chrf")
    preds = ["The relationship between cats and dogs is not exactly friendly.", "a good bookshop is a black hole"]
    refs = [["The relationship between dogs and cats is not exactly friendly.", "Cats and dogs are not friends."],
            ["A good bookshop is just a genteel Black Hole that knows how to read.", "Bookshops are black holes."]]
    streams = [[r[i] for r in refs] for i in range(2)]
    for kw in ({}, {"word_order": 2}, {"char_order": 4, "beta": 1, "whitespace": True}):
        got = chrf.compute(predictions=preds, references=refs, **kw)
        direct_kw = {k: v for k, v in kw.items() if k != "whitespace"}
        want = sacrebleu.corpus_chrf(preds, streams, remove_whitespace=not kw.get("whitespace", False), **direct_kw)
        assert got["score"] == pytest.approx(want.score)
        assert (got["char_order"], got["word_order"], got["beta"]) == (want.char_order, want.word_order, want.beta)
    lower = chrf.compute(predictions=["ABC DEF"], references=["abc def"], lowercase=True)
    assert lower["score"] == pytest.approx(100.0)


def test_other_names_pass_through_to_evaluate_load(monkeypatch):
    import evaluate

    calls = []
    monkeypatch.setattr(evaluate, "load", lambda path, **kw: calls.append((path, kw)) or "loaded")
    assert load_metric("bertscore", config_name="x") == "loaded"
    load_metric("rouge")
    assert calls == [("bertscore", {"config_name": "x"}), (metric_path("rouge"), {})]

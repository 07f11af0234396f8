"""seq2seq stage: tiny T5 models trained for real (a reverse-the-words task learnt to high exact match, the shipped
summarize/translate recipes, a saved checkpoint with its own tokenizer, LoRA), the summarize/translate commands and
their word budget, metric values against published references, and bad data caught with clear messages."""

import io
import json
import random
from pathlib import Path

import pytest
import sacrebleu
from conftest import REPO, write_jsonl
from rouge_score import rouge_scorer

import hfpipeline
from hfpipeline import seq2seq_scores
from hfpipeline.cli import main
from hfpipeline.errors import UserError
from hfpipeline.recipe import load_recipe
from hfpipeline.seq2seq_generate import fit_words, generate, load

WORDS = ["red", "blue", "green", "black", "white", "pink", "gray", "gold"]
TINY_T5 = {
    "from_config": "t5",
    "d_model": 32,
    "d_kv": 8,
    "d_ff": 64,
    "num_heads": 4,
    "num_layers": 2,
    "num_decoder_layers": 2,
}
QUICK = {"max_steps": 2, "per_device_train_batch_size": 8, "logging_steps": 1}


def reverse_rows(n: int, seed: int, lengths=(3, 7)) -> list[dict]:
    """Sequences of colour words and the same words in reverse order."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(*lengths))]
        rows.append({"source": " ".join(words), "target": " ".join(reversed(words))})
    return rows


@pytest.fixture(scope="module")
def word_tok(tmp_path_factory) -> Path:
    """A T5-style word-level tokenizer (pad 0, </s> 1, <unk> 2) over the colour words."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<pad>", "</s>", "<unk>"] + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    out = tmp_path_factory.mktemp("word_tok")
    PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=64
    ).save_pretrained(out)
    return out


def s2s_stage(data, tokenizer, **extra) -> dict:
    return {
        "name": "s2s",
        "kind": "seq2seq",
        "model": TINY_T5,
        "tokenizer": str(tokenizer),
        "data": data,
        "train": dict(QUICK),
        **extra,
    }


def run_stages(*stages, out="run") -> dict:
    """Run the stages as a recipe; return the last stage's metrics."""
    hfpipeline.run({"name": "t", "seed": 0, "output_dir": out, "stages": list(stages)})
    return json.loads((Path(out) / stages[-1]["name"] / "metrics.json").read_text())


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- learning ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reverse_run(word_tok, tmp_path_factory) -> Path:
    """A tiny T5 trained to reverse word sequences (about a minute on 2 cores)."""
    root = tmp_path_factory.mktemp("reverse")
    write_jsonl(root / "train.jsonl", reverse_rows(1000, 0))
    write_jsonl(root / "test.jsonl", reverse_rows(50, 1))
    model = {**TINY_T5, "d_model": 64, "d_kv": 16, "d_ff": 128, "dropout_rate": 0.0}
    stage = s2s_stage(
        {"path": {"train": str(root / "train.jsonl"), "test": str(root / "test.jsonl")}},
        word_tok,
        task="translate",
        model=model,
        max_source_length=16,
        max_target_length=16,
        train={
            "max_steps": 600,
            "learning_rate": 3.0e-3,
            "per_device_train_batch_size": 32,
            "warmup_steps": 40,
            "logging_steps": 20,
        },
    )
    run_stages(stage, out=str(root / "run"))
    return root / "run"


@pytest.mark.slow
def test_reverse_task_reaches_high_exact_match(reverse_run):
    metrics = json.loads((reverse_run / "s2s" / "metrics.json").read_text())
    assert metrics["loss_last"] < metrics["loss_first"] / 20
    assert metrics["exact_match"] >= 85  # 88 with torch's 2 threads, over 90 with 1: float sums differ by thread count
    assert metrics["sacrebleu"] >= 90 and metrics["eval_split"] == "test"
    rows = read_jsonl(reverse_run / "s2s" / "predictions.jsonl")
    assert len(rows) == 50 and set(rows[0]) == {"source", "reference", "prediction"}
    manifest = json.loads((reverse_run / "run.json").read_text())
    assert manifest["stages"][0]["headline"] == {"metric": "sacrebleu", "value": metrics["sacrebleu"]}
    handoff = json.loads((reverse_run / "s2s" / "hfpipeline.json").read_text())
    assert handoff["task"] == "translate" and handoff["max_source_length"] == 16


@pytest.mark.slow
def test_translate_command_reads_lines_and_keeps_blank_ones(reverse_run, tmp_path, capsys):
    lines = ["red blue green gold", "", "white white black"]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n")
    assert main(["translate", str(reverse_run), str(tmp_path / "in.txt"), "--num-beams", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    # each non-blank line translated as the model does it alone (its quality is test_reverse_task's business)
    s2s = load(str(reverse_run), "translate")
    first, last = generate(s2s, [lines[0], lines[2]], num_beams=1)
    assert out == [first, "", last] and len(first.split()) == 4


@pytest.mark.slow
@pytest.mark.parametrize("budget", [1, 2, 3, 5, 6])
def test_summarize_never_exceeds_the_word_budget(reverse_run, budget, capsys, monkeypatch):
    # The reverse model's natural output has as many words as its input: 7 here, over every budget tried.
    monkeypatch.setattr("sys.stdin", io.StringIO("red blue green black white pink gray\n"))
    assert main(["summarize", str(reverse_run / "s2s"), "--max-words", str(budget)]) == 0
    words = capsys.readouterr().out.split()
    assert 1 <= len(words) <= budget
    full = ["gray", "pink", "white", "black", "green", "blue", "red"]
    assert [w.rstrip("…") for w in words] == full[: len(words)]  # the output's own start, cut at the end


@pytest.mark.slow
def test_summarize_warns_about_a_document_longer_than_the_window(reverse_run, tmp_path, capsys):
    (tmp_path / "doc.txt").write_text(" ".join(WORDS * 3))  # 24 words + </s>; the window is 16 tokens
    assert main(["summarize", str(reverse_run), str(tmp_path / "doc.txt"), "--num-beams", "1"]) == 0
    captured = capsys.readouterr()
    assert "warning: the document has 25 tokens, more than the encoder window (16): only the first 16" in captured.err
    assert captured.out.strip()


@pytest.mark.slow
def test_summarize_within_budget_is_left_whole(reverse_run, tmp_path, capsys):
    (tmp_path / "doc.txt").write_text("gold gold red blue\n")
    assert main(["summarize", str(reverse_run), str(tmp_path / "doc.txt"), "--max-words", "10"]) == 0
    assert capsys.readouterr().out.strip() == "blue red gold gold"


def test_fit_words_prefers_a_sentence_end_and_never_exceeds():
    text = "The fair drew 3500 visitors. Parking was free all weekend. Bands played until late."
    assert fit_words(text, 13) == "The fair drew 3500 visitors. Parking was free all weekend."
    assert fit_words(text, 9) == "The fair drew 3500 visitors."
    assert fit_words(text, 3) == "The fair drew…"  # no sentence fits in half the budget
    assert fit_words(text, 40) == text
    rng = random.Random(0)
    for _ in range(300):
        words = [rng.choice(["a", "b.", "c,", "d!", "e?", "-"]) for _ in range(rng.randint(1, 30))]
        budget = rng.randint(1, 35)
        assert len(fit_words(" ".join(words), budget).split()) <= budget


# --- shipped recipes -----------------------------------------------------------------------------------------


def cut(stage: str, steps: int, test_size: int) -> list[str]:
    """Overrides that shrink a shipped recipe to a quick run (greedy decoding for the scored split)."""
    return [
        f"stages.{stage}.train.max_steps={steps}",
        f"stages.{stage}.data.test_size={test_size}",
        f"stages.{stage}.data.max_rows=400",
        f"stages.{stage}.train.logging_steps=5",
        f"stages.{stage}.generation.num_beams=1",
    ]


@pytest.mark.slow
def test_summarize_recipe_scores_rouge_and_the_lead_baseline(tmp_cwd, capsys):
    overrides = ["output_dir=run"] + cut("summarize", 40, 12)
    assert main(["run", str(REPO / "recipes/summarize.yaml"), *overrides]) == 0
    stage = tmp_cwd / "run" / "summarize"
    metrics = json.loads((stage / "metrics.json").read_text())
    assert metrics["loss_last"] < metrics["loss_first"]
    assert {"rouge1", "rouge2", "rougeL", "rougeLsum", "lead_rougeL", "lead_n"} <= set(metrics)
    rows = read_jsonl(stage / "predictions.jsonl")
    assert len(rows) == 12
    # the lead-N figure, recomputed with rouge_score itself
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    lead = [seq2seq_scores.lead(r["source"], metrics["lead_n"]) for r in rows]
    expected = sum(scorer.score(r["reference"], p)["rougeL"].fmeasure for r, p in zip(rows, lead)) / len(rows)
    assert metrics["lead_rougeL"] == pytest.approx(100 * expected, abs=0.01)
    capsys.readouterr()
    (tmp_cwd / "doc.txt").write_text(rows[0]["source"])
    assert main(["summarize", "run", "doc.txt", "--max-words", "4", "--num-beams", "1"]) == 0
    assert len(capsys.readouterr().out.split()) <= 4


@pytest.mark.slow
def test_translate_recipe_scores_bleu_and_chrf(tmp_cwd, capsys):
    overrides = ["output_dir=run"] + cut("translate", 40, 12)
    assert main(["run", str(REPO / "recipes/translate.yaml"), *overrides]) == 0
    metrics = json.loads((tmp_cwd / "run" / "translate" / "metrics.json").read_text())
    assert metrics["loss_last"] < metrics["loss_first"]
    assert "rougeL" not in metrics
    # the figures are sacrebleu's own on the saved predictions
    rows = [json.loads(line) for line in (tmp_cwd / "run/translate/predictions.jsonl").read_text().splitlines()]
    predictions, references = [r["prediction"] for r in rows], [[r["reference"] for r in rows]]
    assert metrics["sacrebleu"] == pytest.approx(sacrebleu.corpus_bleu(predictions, references).score, abs=0.01)
    assert metrics["chrf"] == pytest.approx(sacrebleu.corpus_chrf(predictions, references).score, abs=0.01)
    assert json.loads((tmp_cwd / "run" / "run.json").read_text())["stages"][1]["headline"]["metric"] == "sacrebleu"


# --- checkpoints and LoRA ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def t5_dir(word_tok, tmp_path_factory) -> Path:
    """A tiny T5 saved with save_pretrained (with its word-level tokenizer), standing in for a Hub checkpoint."""
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(word_tok)
    config = {k: v for k, v in TINY_T5.items() if k != "from_config"}
    out = tmp_path_factory.mktemp("t5")
    T5ForConditionalGeneration(
        T5Config(vocab_size=len(tokenizer), pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, **config)
    ).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_fine_tunes_a_saved_checkpoint_with_its_own_tokenizer(t5_dir, tmp_cwd, capsys):
    from transformers import AutoTokenizer

    from hfpipeline.card import tokenizer_fingerprint

    write_jsonl(tmp_cwd / "pairs.jsonl", reverse_rows(60, 0))
    tok = {
        "name": "tok",
        "kind": "tokenizer",
        "type": "unigram",
        "vocab_size": 40,
        "data": {"path": "pairs.jsonl", "text_field": "source"},
    }
    stage = s2s_stage(
        {"path": "pairs.jsonl", "test_size": 8},
        "tok",
        model=str(t5_dir),
        train={**QUICK, "max_steps": 8, "learning_rate": 1.0e-2},
    )
    metrics = run_stages(tok, stage)
    assert f"using the tokenizer of {t5_dir}" in capsys.readouterr().err
    out = tmp_cwd / "run" / "s2s"
    assert tokenizer_fingerprint(AutoTokenizer.from_pretrained(out)) == tokenizer_fingerprint(
        AutoTokenizer.from_pretrained(t5_dir)
    )
    before, after = weights(t5_dir), weights(out)
    assert any(not (before[k] == after[k]).all() for k in before)
    assert metrics["loss_last"] < metrics["loss_first"]


def test_lora_trains_adapters_that_the_commands_load(t5_dir, tmp_cwd, capsys):
    write_jsonl(tmp_cwd / "pairs.jsonl", reverse_rows(60, 0))
    stage = s2s_stage(
        {"path": "pairs.jsonl", "test_size": 8},
        t5_dir,
        model=str(t5_dir),
        task="translate",
        peft={"r": 4, "lora_alpha": 8},
        train={**QUICK, "max_steps": 8, "learning_rate": 1.0e-2},
    )
    metrics = run_stages(stage)
    out = tmp_cwd / "run" / "s2s"
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
    assert metrics["loss_last"] < metrics["loss_first"] and "sacrebleu" in metrics
    capsys.readouterr()
    (tmp_cwd / "in.txt").write_text("red blue\n")
    assert main(["translate", "run", "in.txt", "--num-beams", "1"]) == 0
    assert set(capsys.readouterr().out.split()) <= set(WORDS)


# --- metrics -------------------------------------------------------------------------------------------------


def test_translation_scores_are_sacrebleu_corpus_scores_against_one_reference():
    # sacrebleu README's example sentences, each with its first reference
    hyps = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
    refs = ["The dog bit the man.", "It was not unexpected.", "The man bit him first."]
    assert seq2seq_scores.translation(hyps, refs) == {
        "sacrebleu": round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2),
        "chrf": round(sacrebleu.corpus_chrf(hyps, [refs]).score, 2),
    }
    assert seq2seq_scores.translation(["a b c d"], ["a b c d"]) == {"sacrebleu": 100.0, "chrf": 100.0}


def test_rouge_matches_rouge_score_readme_values():
    # rouge_score's README: 'The quick brown fox jumps over the lazy dog' vs 'The quick brown dog jumps on the log.'
    scores = seq2seq_scores.rouge(
        ["The quick brown dog jumps on the log."], ["The quick brown fox jumps over the lazy dog"]
    )
    assert scores["rouge1"] == pytest.approx(70.59, abs=0.01)
    assert scores["rougeL"] == pytest.approx(58.82, abs=0.01)


def test_lead_baseline_and_exact_match():
    doc = "First line here. Second one follows! Is this third? Fourth."
    assert seq2seq_scores.lead(doc, 2) == "First line here. Second one follows!"
    assert seq2seq_scores.lead_size(["One.", "One. Two.", "One. Two.", "A. B. C."]) == 2
    scores = seq2seq_scores.score("summarize", ["First line here."], ["First line here."], [doc], lead_n=1)
    assert scores["rougeL"] == 100.0 and scores["lead_rougeL"] == 100.0 and scores["exact_match"] == 100.0
    assert seq2seq_scores.exact_match(["a  b", "c"], ["a b", "d"]) == 50.0


# --- bad data and settings -------------------------------------------------------------------------------------


def test_missing_target_column_in_a_saved_dataset(word_tok, tmp_cwd):
    from datasets import Dataset

    Dataset.from_list([{"document": "red blue", "headline": "blue"}] * 4).save_to_disk("ds")
    with pytest.raises(UserError, match=r"ds: train split has no column 'summary' .*target_field: COLUMN"):
        run_stages(s2s_stage({"path": "ds", "source_field": "document", "target_field": "summary"}, word_tok))


def test_missing_column_in_a_jsonl_file_is_caught_when_the_recipe_is_read(word_tok, tmp_cwd):
    write_jsonl(tmp_cwd / "p.jsonl", [{"document": "red", "summary": "red"}])
    with pytest.raises(UserError, match="missing column 'headline'"):
        load_recipe(
            {
                "name": "t",
                "stages": [
                    s2s_stage({"path": "p.jsonl", "source_field": "document", "target_field": "headline"}, word_tok)
                ],
            }
        )


def test_non_text_target_column(word_tok, tmp_cwd):
    write_jsonl(tmp_cwd / "p.jsonl", [{"source": "red blue", "target": i} for i in range(6)])
    with pytest.raises(UserError, match="p.jsonl:1: column 'target' holds int 0: expected text"):
        run_stages(s2s_stage({"path": "p.jsonl"}, word_tok))


def test_empty_targets_are_dropped_with_a_count(word_tok, tmp_cwd, capsys):
    rows = reverse_rows(12, 0)
    rows[2]["target"], rows[5]["target"], rows[7]["source"] = "", None, "  "
    write_jsonl(tmp_cwd / "p.jsonl", rows)
    metrics = run_stages(s2s_stage({"path": "p.jsonl"}, word_tok))
    assert "dropped 3 of 12 train rows with an empty source or target (first: row 3)" in capsys.readouterr().err
    assert metrics["rows"] == {"train": 9} and (metrics["rows_in"], metrics["rows_dropped"]) == (12, 3)


def test_all_targets_empty_is_an_error(word_tok, tmp_cwd):
    write_jsonl(tmp_cwd / "p.jsonl", [{"source": "red", "target": ""}] * 3)
    with pytest.raises(UserError, match="every row of the train split has an empty source or target"):
        run_stages(s2s_stage({"path": "p.jsonl"}, word_tok))


def test_documents_longer_than_the_window_are_truncated_with_a_count(word_tok, tmp_cwd, capsys):
    rows = reverse_rows(10, 0, lengths=(3, 4)) + reverse_rows(3, 1, lengths=(12, 14))
    write_jsonl(tmp_cwd / "p.jsonl", rows)
    run_stages(s2s_stage({"path": "p.jsonl"}, word_tok, max_source_length=8, max_target_length=20))
    err = capsys.readouterr().err
    assert "train: warning: 3 of 13 source texts are longer than max_source_length (8 tokens) and were truncated" in err
    assert "target texts are longer" not in err
    metrics = json.loads((tmp_cwd / "run/s2s/metrics.json").read_text())
    assert (metrics["source_rows_truncated"], metrics["target_rows_truncated"]) == (3, 0)


def test_generation_settings_are_checked_when_the_recipe_is_read(word_tok, tmp_cwd):
    write_jsonl(tmp_cwd / "p.jsonl", reverse_rows(4, 0))
    stage = s2s_stage({"path": "p.jsonl"}, word_tok, generation={"num_beam": 2, "length_penalty": "fast"})
    with pytest.raises(UserError) as e:
        load_recipe({"name": "t", "stages": [stage]})
    assert "generation.num_beam: unknown setting (did you mean 'num_beams'?)" in str(e.value)
    assert "generation.length_penalty: expected float" in str(e.value)
    ok = load_recipe({"name": "t", "stages": [{**stage, "generation": {"num_beams": 2, "length_penalty": "1e0"}}]})
    assert ok.stages[0].options["generation"]["length_penalty"] == 1.0


def test_generation_settings_drive_evaluation_and_are_saved(word_tok, tmp_cwd):
    write_jsonl(tmp_cwd / "p.jsonl", reverse_rows(30, 0, lengths=(5, 7)))
    run_stages(
        s2s_stage(
            {"path": "p.jsonl", "test_size": 6},
            word_tok,
            task="translate",
            generation={"max_new_tokens": 2, "num_beams": 2, "no_repeat_ngram_size": 1},
        )
    )
    rows = read_jsonl(tmp_cwd / "run" / "s2s" / "predictions.jsonl")
    assert len(rows) == 6 and all(len(r["prediction"].split()) <= 2 for r in rows)
    saved = json.loads((tmp_cwd / "run" / "s2s" / "generation_config.json").read_text())
    assert (saved["max_length"], saved["num_beams"], saved["no_repeat_ngram_size"]) == (3, 2, 1)


def test_evaluation_during_training_generates_and_scores_the_validation_split(word_tok, tmp_cwd):
    write_jsonl(tmp_cwd / "p.jsonl", reverse_rows(30, 0))
    run_stages(
        s2s_stage(
            {"path": "p.jsonl", "validation_size": 5},
            word_tok,
            train={**QUICK, "eval_strategy": "steps", "eval_steps": 1},
        )
    )
    history = json.loads((tmp_cwd / "run" / "s2s" / "trainer_state.json").read_text())["log_history"]
    evals = [h for h in history if "eval_rougeL" in h]
    assert [h["step"] for h in evals] == [1, 2] and not any("eval_lead_rougeL" in h for h in evals)


def test_inconsistent_generation_settings_fail_before_training(word_tok, tmp_cwd):
    write_jsonl(tmp_cwd / "p.jsonl", reverse_rows(4, 0))
    with pytest.raises(UserError, match=r"generation: `length_penalty`: `num_beams` is set to"):
        run_stages(s2s_stage({"path": "p.jsonl"}, word_tok, generation={"length_penalty": 2.0}))
    assert not (tmp_cwd / "run" / "s2s" / "checkpoints").exists()


def test_source_window_beyond_the_models_positions(word_tok, tmp_cwd):
    write_jsonl(tmp_cwd / "p.jsonl", reverse_rows(4, 0))
    bart = {
        "from_config": "bart",
        "d_model": 16,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "encoder_ffn_dim": 32,
        "decoder_ffn_dim": 32,
        "max_position_embeddings": 32,
    }
    with pytest.raises(UserError, match=r"max_source_length 64 exceeds the model's encoder window \(32 positions\)"):
        run_stages(s2s_stage({"path": "p.jsonl"}, word_tok, model=bart, max_source_length=64))


def test_a_decoder_only_model_is_refused(word_tok, tmp_cwd):
    write_jsonl(tmp_cwd / "p.jsonl", reverse_rows(4, 0))
    gpt2 = {"from_config": "gpt2", "n_embd": 16, "n_layer": 1, "n_head": 2}
    with pytest.raises(UserError, match="not an encoder-decoder"):
        run_stages(s2s_stage({"path": "p.jsonl"}, word_tok, model=gpt2))


def test_commands_refuse_bad_inputs(tmp_cwd, capsys):
    assert main(["summarize", "run", "doc.txt"]) == 2
    assert "doc.txt: no such file" in capsys.readouterr().err
    (tmp_cwd / "doc.txt").write_text("some text")
    assert main(["summarize", "nowhere", "doc.txt"]) == 2
    assert "nowhere: no such folder, and not a model in the local Hub cache" in capsys.readouterr().err
    (tmp_cwd / "run").mkdir()
    (tmp_cwd / "run" / "run.json").write_text(json.dumps({"stages": [{"name": "a", "kind": "sft", "status": "done"}]}))
    assert main(["summarize", "run", "doc.txt"]) == 2
    assert "no finished seq2seq stage" in capsys.readouterr().err
    (tmp_cwd / "empty.txt").write_text("  \n")
    assert main(["summarize", "run", "empty.txt"]) == 2
    assert "empty document" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # argparse's range check
        main(["summarize", "run", "doc.txt", "--max-words", "0"])
    assert exit_.value.code == 2 and "--max-words: 0 is out of range: must be >= 1" in capsys.readouterr().err

"""classify stage: tiny BERT classifiers trained for real (string/int labels, pairs, a saved checkpoint, LoRA),
the `hfpipeline classify` command, the shipped demo recipe, and bad data caught with exit code 2."""

import io
import json
import random
from pathlib import Path

import pytest
import yaml
from conftest import REPO, write_jsonl, write_recipe

import hfpipeline
from hfpipeline.cli import main
from hfpipeline.commands import classify as classify_cmd

TOPICS = {
    "sports": ["goal", "match", "team", "score", "coach"],
    "food": ["pizza", "bread", "soup", "salad", "cake"],
    "music": ["guitar", "song", "drum", "piano", "choir"],
}
FILLER = ["the", "a", "today", "we", "saw", "really", "very", "and", "then", "it", "was", "there"]
TINY_BERT = {
    "from_config": "bert",
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
    "initializer_range": 0.1,
}  # BERT's 0.02 often leaves a 32-wide model stuck with two classes merged
FAST = {"learning_rate": 5.0e-3, "per_device_train_batch_size": 16, "logging_steps": 2}


def sentence(rng, topic: str) -> str:
    """Two filler words and two words of the topic, shuffled: separable by vocabulary alone."""
    words = rng.sample(FILLER, 2) + rng.sample(TOPICS[topic], 2)
    rng.shuffle(words)
    return " ".join(words)


def easy_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [{"text": sentence(rng, topic), "label": topic} for topic in list(TOPICS) * (n // 3)]


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory) -> Path:
    """A wordpiece tokenizer for the easy sets, as the tokenizer stage writes it."""
    from transformers import PreTrainedTokenizerFast

    from hfpipeline.stages.tokenizer import BUILDERS, SPECIALS

    texts = [r["text"] for r in easy_rows(60)] + [" ".join(FILLER + sum(TOPICS.values(), []))]
    out = tmp_path_factory.mktemp("tok")
    PreTrainedTokenizerFast(
        tokenizer_object=BUILDERS["wordpiece"](texts, 200, 1, True), model_max_length=64, **SPECIALS["wordpiece"]
    ).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def bert_dir(tok_dir, tmp_path_factory) -> Path:
    """A tiny masked-LM BERT saved with save_pretrained, standing in for a Hub checkpoint."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    config = {k: v for k, v in TINY_BERT.items() if k != "from_config"}
    out = tmp_path_factory.mktemp("bert")
    BertForMaskedLM(
        BertConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **config)
    ).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def metrics_of(stage_dir: Path) -> dict:
    return json.loads((stage_dir / "metrics.json").read_text())


def predictions_of(stage_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (stage_dir / "predictions.jsonl").read_text().splitlines()]


def test_learns_three_string_labels_and_predicts_names(tok_dir, tmp_cwd, capsys, monkeypatch):
    write_jsonl(tmp_cwd / "easy.jsonl", easy_rows(240))
    recipe = write_recipe(
        tmp_cwd / "r.yaml",
        {
            "name": "easy",
            "seed": 1,
            "output_dir": "run",
            "stages": [
                {
                    "name": "cls",
                    "kind": "classify",
                    "model": TINY_BERT,
                    "tokenizer": str(tok_dir),
                    "data": {"path": "easy.jsonl", "test_size": 0.2},
                    "train": {**FAST, "num_train_epochs": 5},
                }
            ],
        },
    )
    assert main(["run", str(recipe)]) == 0
    out = tmp_cwd / "run/cls"
    m = metrics_of(out)
    assert m["loss_last"] < m["loss_first"] - 0.3
    assert m["accuracy"] >= 0.9 and m["majority_baseline"] < 0.5  # chance is 1/3
    assert m["eval_split"] == "test" and m["rows"] == {"train": 172, "test": 48, "validation": 20}
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "food", "1": "music", "2": "sports"} and config["label2id"]["sports"] == 2
    assert (out / "model.safetensors").is_file() and not (out / "checkpoints").exists()
    # predictions.jsonl carries names and agrees with the recorded accuracy and majority baseline
    rows = predictions_of(out)
    assert (
        len(rows) == 48 and {r["label"] for r in rows} <= set(TOPICS) and {r["predicted"] for r in rows} <= set(TOPICS)
    )
    assert m["accuracy"] == pytest.approx(sum(r["label"] == r["predicted"] for r in rows) / len(rows))
    assert m["majority_baseline"] == pytest.approx(sum(r["label"] == m["majority_label"] for r in rows) / len(rows))
    # hfpipeline classify on the run dir, the stage dir, the model folder: texts as arguments, JSONL file, stdin
    capsys.readouterr()
    assert main(["classify", "run", rows[0]["text"], rows[1]["text"]]) == 0
    shown = capsys.readouterr().out
    write_jsonl(tmp_cwd / "in.jsonl", [{"text": r["text"]} for r in rows[2:4]])
    assert main(["classify", "run/cls", "--file", "in.jsonl"]) == 0
    shown += capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{rows[4]['text']}\n\n{rows[5]['text']}\n"))
    assert main(["classify", str(out)]) == 0
    shown += capsys.readouterr().out
    assert_shown_like(shown, rows[:6])


def assert_shown_like(shown: str, rows: list[dict]) -> None:
    """`hfpipeline classify` printed label, probability and text as the stage's predictions.jsonl has them."""
    lines = [line.split("\t") for line in shown.splitlines()]
    assert [line[0] for line in lines] == [r["predicted"] for r in rows]
    assert [float(line[1]) for line in lines] == pytest.approx([r["probability"] for r in rows], abs=2e-4)
    assert [line[2] for line in lines] == [
        r["text"] + (f" | {r['text_pair']}" if "text_pair" in r else "") for r in rows
    ]


def test_text_pairs_with_int_labels(tok_dir, tmp_cwd, capsys):
    """The label depends only on the second text: a model that never saw it could not beat chance."""
    rng = random.Random(2)
    rows = [
        {
            "premise": sentence(rng, rng.choice(list(TOPICS))),
            "hypothesis": sentence(rng, topic),
            "y": int(topic == "food"),
        }
        for topic in ["food", "sports", "food", "music"] * 50
    ]
    write_jsonl(tmp_cwd / "pairs.jsonl", rows)
    hfpipeline.run(
        {
            "name": "pairs",
            "seed": 3,
            "output_dir": "run",
            "stages": [
                {
                    "name": "cls",
                    "kind": "classify",
                    "model": TINY_BERT,
                    "tokenizer": str(tok_dir),
                    "data": {
                        "path": "pairs.jsonl",
                        "text_field": "premise",
                        "text_pair_field": "hypothesis",
                        "label_field": "y",
                        "test_size": 40,
                    },
                    "train": {**FAST, "num_train_epochs": 5},
                }
            ],
        }
    )
    m = metrics_of(tmp_cwd / "run/cls")
    assert m["labels"] == ["0", "1"] and m["accuracy"] >= 0.85 and m["accuracy"] > m["majority_baseline"] + 0.2
    rows = predictions_of(tmp_cwd / "run/cls")
    assert {"text", "text_pair", "label", "predicted", "probability"} == set(rows[0])
    write_jsonl(tmp_cwd / "in.jsonl", [{"text": r["text"], "text_pair": r["text_pair"]} for r in rows[:4]])
    capsys.readouterr()
    assert main(["classify", "run", "--file", "in.jsonl"]) == 0
    assert_shown_like(capsys.readouterr().out, rows[:4])


def test_shipped_recipe_fine_tunes_a_saved_checkpoint(bert_dir, tmp_cwd):
    """recipes/classify.yaml with model: pointing at a save_pretrained folder trains that encoder, not a fresh one."""
    from safetensors.torch import load_file

    assert (
        main(
            [
                "run",
                str(REPO / "recipes/classify.yaml"),
                f"stages.classify.model={bert_dir}",
                "output_dir=run",
                "stages.classify.data.max_rows=96",
                "stages.classify.train.max_steps=4",
                "--only",
                "classify",
            ]
        )
        == 0
    )
    out = tmp_cwd / "run/classify"
    assert json.loads((out / "config.json").read_text())["id2label"] == {"0": "negative", "1": "positive"}
    tuned, base = load_file(out / "model.safetensors"), load_file(bert_dir / "model.safetensors")
    key = "bert.embeddings.word_embeddings.weight"
    assert (tuned[key] - base[key]).abs().max() < 0.05  # 4 small steps away from the checkpoint
    assert {r["label"] for r in predictions_of(out)} <= {"negative", "positive"}


def test_lora_through_the_python_api_saves_and_reloads(bert_dir, tmp_cwd):
    write_jsonl(tmp_cwd / "easy.jsonl", easy_rows(90))
    manifest = hfpipeline.finetune(
        "classify",
        model=str(bert_dir),
        data={"path": "easy.jsonl", "test_size": 0.2},
        output_dir=str(tmp_cwd / "run"),
        peft={"r": 4, "lora_alpha": 8},
        max_steps=6,
        **FAST,
    )
    assert manifest["stages"][0]["status"] == "done"
    out = tmp_cwd / "run/classify"
    assert (out / "adapter_model.safetensors").is_file() and not (out / "model.safetensors").exists()
    from safetensors.torch import load_file

    assert any("classifier" in k for k in load_file(out / "adapter_model.safetensors"))  # the head is saved too
    model, tokenizer, length = classify_cmd.load_classifier(str(tmp_cwd / "run"))
    rows = predictions_of(out)
    again = classify_cmd.predict(model, tokenizer, [(r["text"], None) for r in rows], length)
    assert [label for label, _ in again] == [r["predicted"] for r in rows]
    assert [p for _, p in again] == pytest.approx([r["probability"] for r in rows], abs=1e-3)


def test_class_label_folders_and_an_unlabelled_test_split(tok_dir, tmp_cwd, capsys):
    """Datasets saved with ClassLabel names (as from the Hub); a test split labelled -1 (GLUE) is left out."""
    from datasets import ClassLabel, Dataset, Features, Value

    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    rows = easy_rows(60)
    Dataset.from_dict(
        {"text": [r["text"] for r in rows], "label": [int(r["label"] == "food") for r in rows]}, features=features
    ).save_to_disk(tmp_cwd / "train")
    Dataset.from_dict({"text": ["a", "b"], "label": [-1, -1]}, features=features).save_to_disk(tmp_cwd / "test")
    hfpipeline.run(
        {
            "name": "cl",
            "output_dir": "run",
            "stages": [
                {
                    "name": "cls",
                    "kind": "classify",
                    "model": TINY_BERT,
                    "tokenizer": str(tok_dir),
                    "data": {"path": {"train": "train", "test": "test"}},
                    "train": {**FAST, "max_steps": 2},
                }
            ],
        }
    )
    assert "the test split has no labels (all -1), left out" in capsys.readouterr().err
    m = metrics_of(tmp_cwd / "run/cls")
    assert (
        m["eval_split"] == "validation"
        and m["rows"] == {"train": 54, "validation": 6}
        and m["labels"] == ["neg", "pos"]
    )
    assert {r["label"] for r in predictions_of(tmp_cwd / "run/cls")} <= {"neg", "pos"}


# --- bad data ----------------------------------------------------------------------------------------------------


def bad_recipe(tmp_cwd, data: dict) -> str:
    return str(
        write_recipe(
            tmp_cwd / "r.yaml",
            {
                "name": "bad",
                "output_dir": "run",
                "stages": [{"name": "cls", "kind": "classify", "model": TINY_BERT, "tokenizer": "tok", "data": data}],
            },
        )
    )


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"text": "fine", "sentiment": "pos"}\n', "missing column 'label'"),
        ('{"review": "fine", "label": "pos"}\n', "missing column 'text'"),
        ("", "no rows"),
        (b'{"text": "fine", "label": "pos"}\n{"text": "caf\xe9", "label": "neg"}\n', "train.jsonl:2: not valid UTF-8"),
    ],
)
def test_bad_data_fails_validation_with_one_line(tmp_cwd, capsys, content, message):
    (tmp_cwd / "tok").mkdir()
    (tmp_cwd / "train.jsonl").write_bytes(content if isinstance(content, bytes) else content.encode())
    recipe = bad_recipe(tmp_cwd, {"path": "train.jsonl"})
    assert main(["validate", recipe]) == 2
    assert main(["run", recipe]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and message in err[0] and err[0] == err[1] and "Traceback" not in err[0]


def test_label_seen_only_in_test_stops_before_training(tok_dir, tmp_cwd, capsys):
    write_jsonl(tmp_cwd / "train.jsonl", easy_rows(30))
    write_jsonl(tmp_cwd / "test.jsonl", easy_rows(6) + [{"text": "the film was long", "label": "cinema"}])
    (tmp_cwd / "tok").symlink_to(tok_dir)
    recipe = bad_recipe(tmp_cwd, {"path": {"train": "train.jsonl", "test": "test.jsonl"}})
    assert main(["run", recipe]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("test.jsonl: label 'cinema' appears in the test split but never in train")
    assert not (tmp_cwd / "run/cls/checkpoints").exists()


def test_classify_refuses_a_model_without_a_classifier_head(bert_dir, capsys):
    assert main(["classify", str(bert_dir), "some text"]) == 2
    assert "BertForMaskedLM, not a sequence classifier" in capsys.readouterr().err


# --- the shipped demo ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_recipe_end_to_end_with_fewer_steps(tmp_cwd):
    """recipes/classify.yaml as shipped (tokenizer -> MLM pre-training -> classification), steps cut for time."""
    recipe = REPO / "recipes/classify.yaml"
    assert yaml.safe_load(recipe.read_text())["stages"][1]["objective"] == "mlm"
    assert (
        main(
            [
                "run",
                str(recipe),
                "output_dir=run",
                "stages.pretrain.train.max_steps=10",
                "stages.pretrain.train.logging_steps=2",
                "stages.classify.train.max_steps=60",
            ]
        )
        == 0
    )
    pretrain, m = metrics_of(tmp_cwd / "run/pretrain"), metrics_of(tmp_cwd / "run/classify")
    assert pretrain["loss_last"] < pretrain["loss_first"]
    assert m["rows"] == {"train": 1296, "test": 160, "validation": 144}
    assert m["accuracy"] > m["majority_baseline"] + 0.2, m
    assert json.loads((tmp_cwd / "run/run.json").read_text())["summary"][2]["metric"] == "accuracy"


def test_classify_says_when_labels_are_bare_ids():
    assert "training data's own ids (0, 1)" in classify_cmd.unnamed_labels_note({0: "0", 1: "1"})
    assert "LABEL_0" in classify_cmd.unnamed_labels_note({0: "LABEL_0", 1: "LABEL_1"})
    assert classify_cmd.unnamed_labels_note({0: "negative", 1: "positive"}) is None


def test_truncation_is_counted_per_split_held_out_included(tok_dir, tmp_cwd, capsys):
    from transformers import AutoTokenizer

    rows = easy_rows(40)
    write_jsonl(tmp_cwd / "r.jsonl", rows)
    hfpipeline.run(
        {
            "name": "cut",
            "seed": 0,
            "output_dir": "run",
            "stages": [
                {
                    "name": "cls",
                    "kind": "classify",
                    "model": TINY_BERT,
                    "tokenizer": str(tok_dir),
                    "max_length": 5,
                    "data": {"path": "r.jsonl", "validation_size": 10},
                    "train": {**FAST, "max_steps": 1},
                }
            ],
        }
    )
    m = metrics_of(tmp_cwd / "run/cls")
    tok = AutoTokenizer.from_pretrained(tok_dir)
    over = sum(len(tok(r["text"])["input_ids"]) > 5 for r in rows)
    assert over > 0 and m["rows_in"] + m["validation_rows_in"] == len(rows)
    assert m["rows_truncated"] + m["validation_rows_truncated"] == over
    assert (
        f"train: {m['rows_truncated']} of {m['rows_in']} rows longer than max_length 5 tokens"
        in capsys.readouterr().err
    )

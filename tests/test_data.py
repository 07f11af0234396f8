"""Data loading: demo:NAME, local files, column renames, reproducible splits."""

import pytest
from conftest import write_jsonl

from hfpipeline import data
from hfpipeline.data_refs import demo_names


@pytest.mark.parametrize("name", demo_names())
def test_every_demo_dataset_loads(name):
    dd = data.load_splits({"path": f"demo:{name}"}, seed=1)
    assert len(dd["train"]) > 50


def test_renames_and_splits_are_reproducible(tmp_path):
    write_jsonl(tmp_path / "d.jsonl", [{"review": f"text {i}", "stars": i % 2} for i in range(100)])
    block = {
        "path": str(tmp_path / "d.jsonl"),
        "text_field": "review",
        "label_field": "stars",
        "validation_size": 0.1,
        "test_size": 20,
    }
    a, b = data.load_splits(block, seed=3), data.load_splits(block, seed=3)
    assert a["train"].column_names == ["text", "label"]
    assert (len(a["train"]), len(a["validation"]), len(a["test"])) == (72, 8, 20)
    assert a["test"]["text"] == b["test"]["text"]
    assert a["test"]["text"] != data.load_splits(block, seed=4)["test"]["text"]


def test_split_files_and_max_rows(tmp_path):
    write_jsonl(tmp_path / "tr.jsonl", [{"text": str(i)} for i in range(30)])
    write_jsonl(tmp_path / "te.jsonl", [{"text": str(i)} for i in range(5)])
    dd = data.load_splits(
        {"path": {"train": str(tmp_path / "tr.jsonl"), "test": str(tmp_path / "te.jsonl")}, "max_rows": 10}, 0
    )
    assert len(dd["train"]) == 10 and len(dd["test"]) == 5

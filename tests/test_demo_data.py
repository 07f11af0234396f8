"""The bundled demo datasets: format, the README table, the properties the recipes rely on, and reproducibility."""

import functools
import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "hfpipeline" / "demo"
TABLE_ROW = re.compile(r"^\| `(\w+\.jsonl)` \| (\d+) \| (\d+) \| (.+?) \| (.+?) \|$")


@functools.cache
def generator():
    """scripts/make_demo_data.py, imported as a module."""
    spec = importlib.util.spec_from_file_location("make_demo_data", ROOT / "scripts" / "make_demo_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def readme_table() -> dict[str, dict]:
    """File name -> rows, kb, columns, as documented in hfpipeline/demo/README.md."""
    table = {}
    for line in (DEMO / "README.md").read_text(encoding="utf-8").splitlines():
        if match := TABLE_ROW.match(line):
            name, rows, kb, columns, _ = match.groups()
            table[name] = {"rows": int(rows), "kb": int(kb), "columns": re.findall(r"`(\w+)`", columns)}
    return table


@functools.cache
def load(name: str) -> list[dict]:
    """Rows of a demo file, parsed strictly: UTF-8, one JSON object per line, no blank lines."""
    text = (DEMO / f"{name}.jsonl").read_bytes().decode("utf-8")
    assert text.endswith("\n"), f"{name}.jsonl: last line lacks a newline"
    rows = [json.loads(line) for line in text[:-1].split("\n")]
    assert all(isinstance(row, dict) for row in rows), f"{name}.jsonl: a line is not a JSON object"
    return rows


def words(text: str) -> list[str]:
    """Lower-cased words of a text."""
    return re.findall(r"[a-z']+", text.lower())


def request(prompt: str) -> str:
    """The user's words inside a 'User: ...\\nAssistant:' prompt."""
    return prompt.removeprefix("User: ").removesuffix("\nAssistant:")


def test_readme_table_lists_exactly_the_shipped_files():
    assert sorted(readme_table()) == sorted(p.name for p in DEMO.glob("*.jsonl"))
    assert len(readme_table()) == 9


@pytest.mark.parametrize("file", sorted(p.name for p in DEMO.glob("*.jsonl")))
def test_file_matches_its_readme_row(file):
    documented = readme_table()[file]
    rows = load(file.removesuffix(".jsonl"))
    assert len(rows) == documented["rows"]
    assert abs((DEMO / file).stat().st_size / 1024 - documented["kb"]) <= max(1, 0.05 * documented["kb"])
    for i, row in enumerate(rows, 1):
        assert list(row) == documented["columns"], f"{file}:{i}: columns {list(row)}"
        if file == "feedback.jsonl":  # ranked rows hold lists and an object: checked in tests/test_feedback_loop.py
            continue
        assert all(isinstance(v, str) and v.strip() for v in row.values()), f"{file}:{i}: empty or non-string value"


def test_demo_folder_stays_small_and_unescaped():
    files = list(DEMO.iterdir())
    assert sum(p.stat().st_size for p in files) < 2.5 * 1024 * 1024
    for path in DEMO.glob("*.jsonl"):
        assert "\\u" not in path.read_text(encoding="utf-8"), f"{path.name}: write with ensure_ascii=False"


def test_reviews_are_balanced_and_disjoint_from_the_unlabelled_corpus():
    labels = [row["label"] for row in load("reviews")]
    assert set(labels) == {"positive", "negative"}
    assert abs(labels.count("positive") - labels.count("negative")) <= 0.05 * len(labels)
    texts = [row["text"] for row in load("reviews")]
    assert len(set(texts)) == len(texts)
    assert not set(texts) & {row["text"] for row in load("review_corpus")}


def test_dialogue_rows_use_the_shared_prompt_format():
    for name, answers in [("instructions", ["completion"]), ("preferences", ["chosen", "rejected"]), ("prompts", [])]:
        for i, row in enumerate(load(name), 1):
            assert row["prompt"].startswith("User: ") and row["prompt"].endswith("\nAssistant:"), f"{name}:{i}"
            for column in answers:
                assert row[column].startswith(" ") and "User:" not in row[column], f"{name}:{i}: {column}"
                assert len((row["prompt"] + row[column]).split()) <= 60, f"{name}:{i}: too long"


def test_instructions_mix_polite_and_curt_answers_evenly():
    openers = tuple(" " + o for o in generator().OPENERS)
    polite = [row["completion"].startswith(openers) for row in load("instructions")]
    assert 0.45 <= sum(polite) / len(polite) <= 0.55


def test_preferences_prefer_the_polite_answer_and_do_not_copy_instructions():
    openers = tuple(" " + o for o in generator().OPENERS)
    taken = {(row["prompt"], row["completion"]) for row in load("instructions")}
    for i, row in enumerate(load("preferences"), 1):
        assert row["chosen"] != row["rejected"], f"preferences:{i}"
        assert row["chosen"].startswith(openers) and not row["rejected"].startswith(openers), f"preferences:{i}"
        assert (row["prompt"], row["chosen"]) not in taken and (row["prompt"], row["rejected"]) not in taken


def test_prompts_are_mostly_held_out_wordings_absent_from_every_training_file():
    seen = {row["prompt"] for row in load("instructions") + load("preferences")}
    prompts = [row["prompt"] for row in load("prompts")]
    held_out = [p for p in prompts if p not in seen]
    assert len(set(prompts)) == len(prompts)
    assert len(held_out) / len(prompts) >= 0.5
    corpus = "\n".join(row["text"] for row in load("corpus"))
    assert not [p for p in held_out if request(p) in corpus]


def test_corpus_covers_the_vocabulary_of_the_dialogue_and_news_files():
    corpus = {w for row in load("corpus") for w in words(row["text"])}
    for name in ("instructions", "preferences", "prompts"):
        missing = {w for row in load(name) for v in row.values() for w in words(v)} - corpus
        assert not missing, f"{name}: words missing from corpus.jsonl: {sorted(missing)}"
    news = [w for row in load("summaries") for v in row.values() for w in words(v)]
    assert sum(w in corpus for w in news) / len(news) >= 0.99


def test_summaries_rewrite_a_key_fact_that_is_not_the_lead():
    for i, row in enumerate(load("summaries"), 1):
        sentences = re.split(r"(?<=[.!?])\s+", row["document"])
        assert 3 <= len(sentences) <= 6, f"summaries:{i}"
        assert row["summary"] not in sentences, f"summaries:{i}: summary copies a sentence"
        facts = re.findall(r"\b(?:[A-Z][a-z]+|\d+)\b", row["summary"].split(" ", 1)[1])  # names and numbers
        assert all(f in row["document"] for f in facts), f"summaries:{i}: summary names something not in the document"


def test_translations_are_one_to_one():
    rows = load("translations")
    assert len({row["en"] for row in rows}) == len(rows) == len({row["de"] for row in rows})
    assert all(row["en"][-1] == row["de"][-1] and row["de"][0].isupper() for row in rows)


def test_generator_reproduces_the_shipped_files(tmp_path):
    counts = generator().main(tmp_path)
    shipped = [p.name for p in DEMO.glob("*.jsonl") if p.name != "feedback.jsonl"]  # scripts/make_feedback_demo.py
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(shipped)
    for path in tmp_path.iterdir():
        assert path.read_bytes() == (DEMO / path.name).read_bytes(), f"{path.name} differs: rerun the generator"
        assert counts[path.name] == readme_table()[path.name]["rows"]

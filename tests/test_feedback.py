"""Labelling batches, saved rankings and their expansion into preference pairs (hfpipeline.feedback)."""

import json

import pytest

from hfpipeline import feedback
from hfpipeline.errors import UserError


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def make_batch(tmp_path, n=3, k=3):
    rows = [
        {
            "id": f"q{i}",
            "prompt": f"Prompt {i}",
            "responses": [f"r{i}.{j}" for j in range(k)],
            "model": "tiny",
            "sampling": {"temperature": 1.0},
        }
        for i in range(n)
    ]
    return feedback.load_batch(write_jsonl(tmp_path / "batch.jsonl", rows))


def test_labels_path_sits_beside_batch(tmp_path):
    assert feedback.labels_path_for(tmp_path / "run" / "batch.jsonl") == tmp_path / "run" / "batch.labels.jsonl"


def test_load_batch_keeps_items_in_order(tmp_path):
    batch = make_batch(tmp_path, n=4, k=2)
    assert [item["id"] for item in batch.items] == ["q0", "q1", "q2", "q3"]
    assert batch.item("q2")["responses"] == ["r2.0", "r2.1"]
    assert batch.item("nope") is None


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ({"id": "a", "prompt": "p", "responses": ["only one"]}, "at least 2"),
        ({"id": "a", "prompt": "  ", "responses": ["x", "y"]}, "'prompt' must be a non-empty string"),
        ({"id": 7, "prompt": "p", "responses": ["x", "y"]}, "'id' must be a non-empty string"),
        ({"id": "a", "prompt": "p", "responses": ["x", 3]}, "responses[1] must be a string"),
        ({"id": "q0", "prompt": "p", "responses": ["x", "y"]}, "duplicate id 'q0'"),
    ],
)
def test_load_batch_names_the_bad_line(tmp_path, bad, fragment):
    good = {"id": "q0", "prompt": "p", "responses": ["x", "y"]}
    path = tmp_path / "batch.jsonl"
    path.write_text(json.dumps(good) + "\n\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(UserError) as err:
        feedback.load_batch(path)
    assert str(err.value).startswith(f"{path}:3: ")
    assert fragment in str(err.value)


def test_load_batch_rejects_non_jsonl(tmp_path):
    path = tmp_path / "batch.jsonl"
    path.write_text('{"id": "a", "prompt": "p", "responses": ["x", "y"]}\nid,prompt\n', encoding="utf-8")
    with pytest.raises(UserError, match=rf"^{path}:2: not valid JSON"):
        feedback.load_batch(path)


def test_load_batch_rejects_empty_file(tmp_path):
    path = tmp_path / "batch.jsonl"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(UserError, match="empty"):
        feedback.load_batch(path)


@pytest.mark.parametrize(
    "row, fragment",
    [
        ({"id": "q0", "ranking": [0, 1, 1]}, "ranking [0, 1, 1] is not a permutation of 0..2"),
        ({"id": "q0", "ranking": [0, 1]}, "ranking [0, 1] is not a permutation"),
        ({"id": "q0", "ranking": [0, 1, 3]}, "ranking [0, 1, 3] is not a permutation"),
        ({"id": "q0", "ranking": [0, True, 2]}, "is not a permutation"),
        ({"id": "zzz", "ranking": [0, 1, 2]}, "unknown id 'zzz'"),
        ({"id": "q0", "ranking": [2, 1, 0], "tags": {"3": ["irrelevant"]}}, "tags key '3' is not a response index"),
        ({"id": "q0", "ranking": [2, 1, 0], "tags": {"0": ["rude"]}}, "tag 'rude' is not one of"),
        ({"id": "q0", "ranking": [2, 1, 0], "tags": {"0": "irrelevant"}}, "must be a list of tag names"),
        ({"id": "q0", "ranking": [2, 1, 0], "rank": [0]}, "unknown key 'rank'"),
    ],
)
def test_load_labels_names_line_and_bad_value(tmp_path, row, fragment):
    batch = make_batch(tmp_path)
    labels_path = write_jsonl(tmp_path / "batch.labels.jsonl", [{"id": "q1", "ranking": [0, 1, 2]}, row])
    with pytest.raises(UserError) as err:
        feedback.load_labels(batch, labels_path)
    assert str(err.value).startswith(f"{labels_path}:2: ")
    assert fragment in str(err.value)


def test_load_labels_missing_file_means_nothing_labelled(tmp_path):
    batch = make_batch(tmp_path)
    assert feedback.load_labels(batch, tmp_path / "batch.labels.jsonl") == {}
    assert feedback.next_unlabelled(batch, {}) == 0


def test_custom_tag_set_is_enforced(tmp_path):
    batch = make_batch(tmp_path)
    labels_path = tmp_path / "batch.labels.jsonl"
    feedback.save_label(
        batch, labels_path, {"id": "q0", "ranking": [0, 1, 2], "tags": {"1": ["toxic"]}}, tags=("toxic",)
    )
    assert feedback.load_labels(batch, labels_path, tags=("toxic",))["q0"]["tags"] == {"1": ["toxic"]}
    with pytest.raises(UserError, match="tag 'toxic' is not one of: inappropriate, irrelevant, inaccurate"):
        feedback.load_labels(batch, labels_path)


def test_save_label_writes_a_normalised_row(tmp_path):
    batch = make_batch(tmp_path)
    labels_path = tmp_path / "batch.labels.jsonl"
    row = feedback.save_label(
        batch,
        labels_path,
        {
            "id": "q1",
            "ranking": [2, 0, 1],
            "comment": " too long ",
            "tags": {"0": ["irrelevant", "inaccurate", "irrelevant"], "2": []},
        },
    )
    [stored] = [json.loads(line) for line in labels_path.read_text().splitlines()]
    assert stored == row
    assert stored["ranking"] == [2, 0, 1]
    assert stored["tags"] == {"0": ["inaccurate", "irrelevant"]}
    assert stored["comment"] == "too long"
    assert stored["saved_at"].endswith("+00:00")


def test_rejected_submission_leaves_labels_intact(tmp_path):
    batch = make_batch(tmp_path)
    labels_path = tmp_path / "batch.labels.jsonl"
    feedback.save_label(batch, labels_path, {"id": "q0", "ranking": [1, 0, 2]})
    before = labels_path.read_bytes()
    for bad in (
        {"id": "q1", "ranking": [0, 0, 2]},
        {"id": "nope", "ranking": [0, 1, 2]},
        {"id": "q1", "ranking": [0, 1, 2], "tags": {"0": ["spam"]}},
        ["not", "an", "object"],
    ):
        with pytest.raises(UserError):
            feedback.save_label(batch, labels_path, bad)
    assert labels_path.read_bytes() == before
    assert feedback.load_labels(batch, labels_path)["q0"]["ranking"] == [1, 0, 2]


def test_relabel_replaces_earlier_row_and_progress_continues(tmp_path):
    batch = make_batch(tmp_path)
    labels_path = tmp_path / "batch.labels.jsonl"
    feedback.save_label(batch, labels_path, {"id": "q0", "ranking": [0, 1, 2]})
    feedback.save_label(batch, labels_path, {"id": "q2", "ranking": [0, 1, 2]})
    feedback.save_label(batch, labels_path, {"id": "q0", "ranking": [2, 1, 0], "comment": "changed my mind"})
    labels = feedback.load_labels(batch, labels_path)
    assert len(labels_path.read_text().splitlines()) == 3
    assert set(labels) == {"q0", "q2"}
    assert labels["q0"]["ranking"] == [2, 1, 0] and labels["q0"]["comment"] == "changed my mind"
    assert feedback.next_unlabelled(batch, labels) == 1
    feedback.save_label(batch, labels_path, {"id": "q1", "ranking": [1, 2, 0]})
    assert feedback.next_unlabelled(batch, feedback.load_labels(batch, labels_path)) is None


@pytest.mark.parametrize("k", [2, 3, 4, 7])
def test_pairs_count_and_order(k):
    responses = [f"resp{i}" for i in range(k)]
    ranking = list(reversed(range(k)))
    pairs = feedback.rows_to_pairs([{"prompt": "P", "responses": responses, "ranking": ranking}])
    assert len(pairs) == k * (k - 1) // 2
    position = {f"resp{i}": pos for pos, i in enumerate(ranking)}
    assert all(position[p["chosen"]] < position[p["rejected"]] for p in pairs)
    assert {(p["chosen"], p["rejected"]) for p in pairs} == {
        (responses[a], responses[b]) for i, a in enumerate(ranking) for b in ranking[i + 1 :]
    }
    assert all(p["prompt"] == "P" for p in pairs)


def test_pairs_for_three_responses_exactly():
    row = {"prompt": "P", "responses": ["a", "b", "c"], "ranking": [1, 2, 0]}
    pairs = [(p["chosen"], p["rejected"]) for p in feedback.rows_to_pairs([row])]
    assert pairs == [("b", "c"), ("b", "a"), ("c", "a")]


def test_tag_demotion_moves_tagged_responses_last_stably():
    row = {
        "prompt": "P",
        "responses": ["a", "b", "c", "d"],
        "ranking": [3, 0, 2, 1],
        "tags": {"3": ["inaccurate"], "2": ["inappropriate", "irrelevant"], "0": ["irrelevant"]},
    }
    assert feedback.final_order(row) == [3, 0, 2, 1]
    assert feedback.final_order(row, demote_tags=("inappropriate", "inaccurate")) == [0, 1, 3, 2]
    pairs = feedback.rows_to_pairs([row], demote_tags=("inappropriate", "inaccurate"))
    assert [(p["chosen"], p["rejected"]) for p in pairs][:3] == [("a", "b"), ("a", "d"), ("a", "c")]
    assert ("d", "b") not in {(p["chosen"], p["rejected"]) for p in pairs}


def test_ranked_rows_join_labels_with_batch(tmp_path):
    batch = make_batch(tmp_path)
    labels_path = tmp_path / "batch.labels.jsonl"
    feedback.save_label(batch, labels_path, {"id": "q2", "ranking": [1, 0, 2], "tags": {"2": ["irrelevant"]}})
    rows = feedback.ranked_rows(batch, feedback.load_labels(batch, labels_path))
    assert rows == [
        {
            "id": "q2",
            "prompt": "Prompt 2",
            "responses": ["r2.0", "r2.1", "r2.2"],
            "ranking": [1, 0, 2],
            "tags": {"2": ["irrelevant"]},
        }
    ]
    pairs = feedback.rows_to_pairs(rows)
    assert pairs[0] == {"prompt": "Prompt 2", "chosen": "r2.1", "rejected": "r2.0"}


def test_pairs_reject_a_bad_ranking():
    with pytest.raises(UserError, match="not a permutation"):
        feedback.rows_to_pairs([{"prompt": "P", "responses": ["a", "b"], "ranking": [0, 0]}])

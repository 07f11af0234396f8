"""The human feedback loop: sample stage -> labelling batch -> labels -> ranked rows -> reward model; the shipped
labelled demo batch; validation of ranked data files; the feedback recipe end to end (cut down)."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from conftest import REPO, write_jsonl, write_recipe

import hfpipeline
from hfpipeline import data, feedback
from hfpipeline.cli import main
from hfpipeline.errors import UserError

DEMO_FEEDBACK = REPO / "hfpipeline" / "demo" / "feedback.jsonl"
TINY_GPT = {"from_config": "gpt2", "n_layer": 2, "n_embd": 32, "n_head": 2, "n_positions": 128}


def load_script(name: str):
    """A module from scripts/, imported by path."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def metrics(run_dir: Path, stage: str) -> dict:
    return json.loads((run_dir / stage / "metrics.json").read_text())


def make_batch(path: Path, n: int = 3, k: int = 4) -> Path:
    rows = [
        {
            "id": f"q{i}",
            "prompt": f"User: question {i}\nAssistant:",
            "responses": [f" answer {i}.{j}" for j in range(k)],
        }
        for i in range(n)
    ]
    return write_jsonl(path, rows)


# ---- loading labelled batches as ranked rows --------------------------------------------------------------------


def test_load_ranked_joins_batch_and_labels_skipping_unlabelled(tmp_path):
    batch_path = make_batch(tmp_path / "batch.jsonl")
    batch, labels_path = feedback.load_batch(batch_path), feedback.labels_path_for(batch_path)
    feedback.save_label(batch, labels_path, {"id": "q2", "ranking": [3, 1, 0, 2], "tags": {"0": ["inappropriate"]}})
    feedback.save_label(batch, labels_path, {"id": "q0", "ranking": [0, 1, 2, 3]})
    rows = feedback.load_ranked(batch_path)
    assert [r["id"] for r in rows] == ["q0", "q2"]  # batch order; q1 is not labelled
    assert rows[1]["ranking"] == [3, 1, 0, 2] and rows[1]["tags"] == {"0": ["inappropriate"]}
    assert len(feedback.rows_to_pairs(rows)) == 2 * 6

    dd = data.load_splits({"path": str(batch_path)}, seed=0)  # how a reward stage reads it
    assert dd["train"]["ranking"] == [[0, 1, 2, 3], [3, 1, 0, 2]]
    assert dd["train"]["responses"][1] == [f" answer 2.{j}" for j in range(4)]


def test_load_ranked_accepts_custom_tags_and_refuses_unlabelled_batches(tmp_path):
    batch_path = make_batch(tmp_path / "batch.jsonl")
    with pytest.raises(UserError, match=r"no labels yet \(batch\.labels\.jsonl not found\).*hfpipeline label"):
        feedback.load_ranked(batch_path)
    feedback.labels_path_for(batch_path).write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="no item of batch.jsonl is labelled yet"):
        feedback.load_ranked(batch_path)
    batch = feedback.load_batch(batch_path)
    feedback.save_label(
        batch,
        feedback.labels_path_for(batch_path),
        {"id": "q1", "ranking": [1, 0, 2, 3], "tags": {"1": ["toxic"]}},
        tags=("toxic",),
    )
    assert feedback.load_ranked(batch_path)[0]["tags"] == {"1": ["toxic"]}


@pytest.mark.parametrize(
    "row, fragment",
    [
        ({"prompt": "P", "responses": ["a", "b"], "ranking": [0, 0]}, "ranking [0, 0] is not a permutation of 0..1"),
        ({"prompt": "P", "responses": ["a", "b"], "ranking": "0,1"}, "is not a permutation"),
        ({"prompt": "", "responses": ["a", "b"], "ranking": [0, 1]}, "'prompt' must be a non-empty string"),
        ({"prompt": "P", "responses": ["a"], "ranking": [0]}, "at least 2 strings"),
        ({"prompt": "P", "responses": ["a", "b"], "ranking": [1, 0], "tags": {"2": ["x"]}}, "tags key '2'"),
        ({"prompt": "P", "responses": ["a", "b"], "ranking": [1, 0], "tags": {"1": [3]}}, "tag 3 is not a string"),
    ],
)
def test_ranked_file_check_names_the_line(tmp_path, row, fragment):
    good = {"prompt": "P", "responses": ["a", "b"], "ranking": [1, 0], "tags": {"0": None, "1": ["rude"]}}
    assert feedback.check_ranked_file(write_jsonl(tmp_path / "good.jsonl", [good, {**good, "tags": None}])) == 2
    path = write_jsonl(tmp_path / "ranked.jsonl", [good, row])
    with pytest.raises(UserError) as err:
        feedback.check_ranked_file(path)
    assert str(err.value).startswith(f"{path}:2: ") and fragment in str(err.value)


# ---- `hfpipeline validate` on recipes whose reward/dpo data is ranked ----------------------------------------------


def reward_recipe(tmp_path: Path, data_path: str, kind: str = "reward") -> Path:
    return write_recipe(
        tmp_path / "r.yaml",
        {
            "name": "r",
            "stages": [
                {"name": "tok", "kind": "tokenizer", "data": "demo:corpus"},
                {"name": "pref", "kind": kind, "model": TINY_GPT, "tokenizer": "tok", "data": data_path},
            ],
        },
    )


BAD_LABELS = [  # labels file content -> fragment of the one-line error naming labels file:line
    (
        '{"id": "q0", "ranking": [0, 1, 2, 3]}\n{"id": "q1", "ranking": [0, 1, 1, 3]}\n',
        "batch.labels.jsonl:2: item 'q1': ranking [0, 1, 1, 3] is not a permutation of 0..3",
    ),
    (
        '{"id": "q0", "ranking": [0, 1, 2, 3]}\n{"id": "q9", "ranking": [0, 1, 2, 3]}\n',
        "batch.labels.jsonl:2: unknown id 'q9': no such item in batch.jsonl",
    ),
    ('{"id": "q0", "ranking": [0, 1, 2, 3]}\nid,ranking\n', "batch.labels.jsonl:2: not valid JSON"),
]


@pytest.mark.parametrize("kind", ["reward", "dpo"])
@pytest.mark.parametrize("labels, fragment", BAD_LABELS)
def test_validate_rejects_bad_labels_and_keeps_them(tmp_path, capsys, kind, labels, fragment):
    batch_path = make_batch(tmp_path / "batch.jsonl")
    labels_path = feedback.labels_path_for(batch_path)
    labels_path.write_text(labels, encoding="utf-8")
    assert main(["validate", str(reward_recipe(tmp_path, str(batch_path), kind))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "stages[1].data.path: " in err and fragment in err
    assert labels_path.read_text(encoding="utf-8") == labels  # nothing rewritten or lost
    assert main(["label", str(batch_path)]) == 2  # the labelling page refuses to start, too
    assert fragment in capsys.readouterr().err
    assert labels_path.read_text(encoding="utf-8") == labels


def test_validate_rejects_a_batch_that_is_not_jsonl(tmp_path, capsys):
    batch_path = tmp_path / "batch.jsonl"
    batch_path.write_text(
        '{"id": "q0", "prompt": "P", "responses": ["a", "b"]}\nid,prompt,responses\n', encoding="utf-8"
    )
    feedback.labels_path_for(batch_path).write_text('{"id": "q0", "ranking": [1, 0]}\n', encoding="utf-8")
    assert main(["validate", str(reward_recipe(tmp_path, str(batch_path)))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{batch_path}:2: not valid JSON" in err


def test_validate_checks_ranked_files_and_unlabelled_batches(tmp_path, capsys):
    ranked = write_jsonl(
        tmp_path / "ranked.jsonl",
        [
            {"prompt": "P", "responses": ["a", "b", "c"], "ranking": [2, 0, 1]},
            {"prompt": "P", "responses": ["a", "b", "c"], "ranking": [2, 0]},
        ],
    )
    assert main(["validate", str(reward_recipe(tmp_path, str(ranked)))]) == 2
    assert f"{ranked}:2: ranking [2, 0] is not a permutation of 0..2" in capsys.readouterr().err
    batch_path = make_batch(tmp_path / "batch.jsonl")
    assert main(["validate", str(reward_recipe(tmp_path, str(batch_path)))]) == 2
    err = capsys.readouterr().err
    assert "a labelling batch without labels (batch.labels.jsonl not found)" in err and "hfpipeline label" in err
    feedback.labels_path_for(batch_path).write_text('{"id": "q1", "ranking": [3, 2, 1, 0]}\n', encoding="utf-8")
    assert main(["validate", str(reward_recipe(tmp_path, str(batch_path)))]) == 2  # 1 ranking: none left to train on
    assert "batch.jsonl: 1 rows; a reward stage needs >= 2" in capsys.readouterr().err
    feedback.labels_path_for(batch_path).write_text(
        '{"id": "q1", "ranking": [3, 2, 1, 0]}\n{"id": "q0", "ranking": [0, 1, 2, 3]}\n', encoding="utf-8"
    )
    assert main(["validate", str(reward_recipe(tmp_path, str(batch_path)))]) == 0
    assert main(["validate", str(reward_recipe(tmp_path, "demo:feedback"))]) == 0


# ---- the shipped labelled batch -------------------------------------------------------------------------------------


def test_demo_feedback_is_reproducible_and_ranks_polite_answers_first(tmp_path):
    assert load_script("make_feedback_demo").main(tmp_path) == {"feedback.jsonl": 300}
    assert (tmp_path / "feedback.jsonl").read_bytes() == DEMO_FEEDBACK.read_bytes(), (
        "rerun scripts/make_feedback_demo.py"
    )
    assert feedback.check_ranked_file(DEMO_FEEDBACK) == 300
    rows = [json.loads(line) for line in DEMO_FEEDBACK.read_text(encoding="utf-8").splitlines()]
    openers = tuple(" " + o for o in load_script("make_demo_data").OPENERS)
    assert all(list(row) == ["prompt", "responses", "ranking", "tags"] and len(row["responses"]) == 4 for row in rows)
    assert len({row["prompt"] for row in rows}) == 300
    assert all(row["responses"][row["ranking"][0]].startswith(openers) for row in rows)  # best: polite
    assert all(not row["responses"][row["ranking"][-1]].startswith(openers) for row in rows)  # worst: curt
    assert {row["ranking"][0] for row in rows} == {0, 1, 2, 3}  # shown shuffled
    tags = [name for row in rows for names in row["tags"].values() for name in names]
    assert tags.count("inappropriate") > 50 and tags.count("irrelevant") > 20
    demoted = feedback.rows_to_pairs(rows, demote_tags=["inappropriate"])
    plain = feedback.rows_to_pairs(rows)
    assert len(demoted) == len(plain) == 300 * 6 and demoted != plain  # some labellers ranked a rude reply higher


# ---- the sample stage -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    """A run: tokenizer -> a tiny causal LM (2 steps) -> sample stage over 3 prompts, K=4."""
    base = tmp_path_factory.mktemp("loop")
    write_jsonl(
        base / "prompts.jsonl",
        [{"question": f"User: How do I {t}?\nAssistant:"} for t in ("cook rice", "plant tomatoes", "sleep better")],
    )
    recipe = write_recipe(
        base / "loop.yaml",
        {
            "name": "loop",
            "seed": 7,
            "output_dir": str(base / "run"),
            "stages": [
                {
                    "name": "tok",
                    "kind": "tokenizer",
                    "vocab_size": 500,
                    "data": {"path": "demo:corpus", "max_rows": 300},
                },
                {
                    "name": "lm",
                    "kind": "pretrain",
                    "model": TINY_GPT,
                    "tokenizer": "tok",
                    "block_size": 32,
                    "data": {"path": "demo:corpus", "max_rows": 200},
                    "train": {"max_steps": 2, "eval_strategy": "no"},
                },
                {
                    "name": "sample",
                    "kind": "sample",
                    "model": "lm",
                    "k": 4,
                    "max_new_tokens": 8,
                    "top_k": 50,
                    "data": {"path": str(base / "prompts.jsonl"), "prompt_field": "question"},
                },
            ],
        },
    )
    assert main(["run", str(recipe)]) == 0
    return recipe, base / "run"


def test_sample_stage_writes_a_labelling_batch_of_k_distinct_responses(sampled):
    recipe, run_dir = sampled
    batch_path = run_dir / "sample" / "batch.jsonl"
    batch = feedback.load_batch(batch_path)
    assert [item["prompt"] for item in batch.items] == [
        f"User: How do I {t}?\nAssistant:" for t in ("cook rice", "plant tomatoes", "sleep better")
    ]
    assert all(len(set(item["responses"])) == 4 for item in batch.items)
    assert batch.items[0]["model"] == str(run_dir / "lm")
    assert batch.items[0]["sampling"]["seed"] == 7 and batch.items[0]["sampling"]["top_k"] == 50
    assert metrics(run_dir, "sample") == {"prompts": 3, "k": 4, "distinct_fraction": 1.0}
    run = json.loads((run_dir / "run.json").read_text())
    assert run["stages"][-1]["headline"] == {"metric": "prompts", "value": 3}
    before = batch_path.read_bytes()
    assert main(["run", str(recipe), "--only", "sample", "--overwrite"]) == 0
    assert batch_path.read_bytes() == before  # same seed, same batch


@pytest.mark.ppo  # recipes/feedback.yaml ends in a ppo stage
def test_labelled_sample_batch_becomes_reward_data(sampled, tmp_cwd):
    _, run_dir = sampled
    batch_path = Path("labels/round1.jsonl")
    batch_path.parent.mkdir()
    shutil.copy(run_dir / "sample" / "batch.jsonl", batch_path)
    batch = feedback.load_batch(batch_path)
    first, last = batch.items[0]["id"], batch.items[2]["id"]
    feedback.save_label(batch, feedback.labels_path_for(batch_path), {"id": first, "ranking": [2, 0, 3, 1]})
    feedback.save_label(
        batch,
        feedback.labels_path_for(batch_path),
        {"id": last, "ranking": [0, 1, 2, 3], "tags": {"0": ["inappropriate"]}},
    )
    recipe = write_recipe(
        Path("reward.yaml"),
        {
            "name": "rw",
            "output_dir": "runs/rw",
            "stages": [
                {
                    "name": "reward",
                    "kind": "reward",
                    "model": str(run_dir / "lm"),
                    "demote_tags": ["inappropriate"],
                    "data": str(batch_path),
                }
            ],
        },
    )
    assert main(["validate", str(recipe)]) == 0
    documented = hfpipeline.load_recipe(REPO / "recipes" / "feedback.yaml", [f"stages.reward.data.path={batch_path}"])
    assert documented.stage("reward").data["path"] == str(batch_path)  # the override docs/feedback.md gives
    rows = data.load_splits({"path": str(batch_path)}, seed=0)["train"]
    assert rows["id"] == [first, last]
    pairs = feedback.rows_to_pairs(
        [{**r, "tags": {k: v for k, v in r["tags"].items() if v}} for r in rows], demote_tags=["inappropriate"]
    )
    tagged = batch.items[2]["responses"][0]
    assert len(pairs) == 12 and pairs[0] == {
        "prompt": batch.items[0]["prompt"],
        "chosen": batch.items[0]["responses"][2],
        "rejected": batch.items[0]["responses"][0],
    }
    assert [p["rejected"] == tagged for p in pairs[6:]] == [False, False, True, False, True, True]  # demoted last


# ---- training on rankings -------------------------------------------------------------------------------------------


def test_reward_model_on_expanded_rankings_beats_chance_on_held_out_rankings(tmp_cwd):
    hfpipeline.run(
        {
            "name": "ranked",
            "seed": 0,
            "output_dir": "runs/ranked",
            "stages": [
                {"name": "tok", "kind": "tokenizer", "vocab_size": 1000, "data": "demo:corpus"},
                {
                    "name": "reward",
                    "kind": "reward",
                    "model": TINY_GPT,
                    "tokenizer": "tok",
                    "demote_tags": ["inappropriate"],
                    "data": {"path": "demo:feedback", "validation_size": 60},  # 60 held-out rankings = 360 pairs
                    "train": {"learning_rate": 1e-3, "per_device_train_batch_size": 16},
                },
            ],
        }
    )  # one epoch: 90 steps
    result = metrics(tmp_cwd / "runs" / "ranked", "reward")
    assert result["train_pairs"] == 240 * 6 and result["eval_pairs"] == 60 * 6
    assert result["accuracy"] >= 0.75 and result["accuracy"] > result["accuracy_before"] + 0.15


@pytest.mark.slow
@pytest.mark.ppo
def test_feedback_recipe_raises_reward_over_sft(tmp_cwd):
    """recipes/feedback.yaml as shipped, but for a smaller sampling step (sampling does not feed the later stages:
    the reward stage reads the shipped labelled batch demo:feedback)."""
    overrides = [
        "output_dir=runs/fb",
        "stages.sample.data={path: demo:prompts, max_rows: 4}",
        "stages.sample.max_new_tokens=8",
    ]
    assert main(["run", str(REPO / "recipes" / "feedback.yaml"), *overrides]) == 0
    run_dir = tmp_cwd / "runs" / "fb"
    run = json.loads((run_dir / "run.json").read_text())
    assert [s["status"] for s in run["stages"]] == ["done"] * 6
    batch = feedback.load_batch(run_dir / "sample" / "batch.jsonl")
    assert len(batch.items) == 4 and all(len(item["responses"]) == 4 for item in batch.items)
    reward = metrics(run_dir, "reward")
    assert reward["train_pairs"] == 270 * 6 and reward["eval_pairs"] == 30 * 6  # 300 rankings, 10% held out
    assert reward["accuracy"] > reward["accuracy_before"] + 0.2
    ppo = metrics(run_dir, "ppo")  # measured: held-out mean reward 0.18 -> 1.57 (seed 42)
    assert ppo["mean_reward"] > ppo["mean_reward_sft"] + 0.5 and 0 < ppo["kl"] < 2.5, ppo

"""`hfpipeline generate` and `hfpipeline sample` on a tiny fine-tuned GPT: completions, stdin, several samples,
K distinct responses per prompt into a labelling batch, reproducible with a seed."""

import io
import json

import pytest
from builders import prompt
from transformers import AutoTokenizer, GPT2Config, GPT2ForSequenceClassification

from hfpipeline import feedback, models
from hfpipeline.cli import main
from hfpipeline.errors import UserError
from hfpipeline.generation import generate, load_for_generation, sample_responses


@pytest.fixture(scope="module")
def loaded(decoder):
    return load_for_generation(str(decoder / "sft"))


def test_generate_prints_the_greedy_completion(decoder, loaded, capsys):
    expected = generate(loaded.model, loaded.tokenizer, [prompt(1)], max_new_tokens=12, temperature=0)[0][0]
    assert expected.strip()
    # the run dir resolves to its last causal-LM stage (sft)
    assert main(["generate", str(decoder), prompt(1), "--max-new-tokens", "12", "--temperature", "0"]) == 0
    assert capsys.readouterr().out == expected.strip() + "\n"


def test_generate_reads_the_prompt_from_stdin(decoder, loaded, capsys, monkeypatch):
    expected = generate(loaded.model, loaded.tokenizer, [prompt(2)], max_new_tokens=8, temperature=0)[0][0]
    monkeypatch.setattr("sys.stdin", io.StringIO(prompt(2) + "\n"))
    assert main(["generate", str(decoder / "sft"), "--max-new-tokens", "8", "--temperature", "0"]) == 0
    assert capsys.readouterr().out == expected.strip() + "\n"


def test_generate_num_return_sequences(decoder, capsys):
    args = [
        "generate",
        str(decoder / "sft"),
        prompt(0),
        prompt(3),
        "--max-new-tokens",
        "6",
        "--num-return-sequences",
        "3",
        "--seed",
        "7",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    headers = [line for line in out.splitlines() if line.startswith("--- prompt")]
    assert headers == [f"--- prompt {i}, sample {j} ---" for i in (1, 2) for j in (1, 2, 3)]
    assert main(args) == 0 and capsys.readouterr().out == out  # same seed, same text


def test_greedy_with_several_sequences_is_refused(decoder, capsys):
    assert main(["generate", str(decoder / "sft"), "hi", "--temperature", "0", "--num-return-sequences", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "temperature above 0" in err[0]


def test_load_for_generation_errors(decoder, tmp_path):
    with pytest.raises(UserError, match="holds no model"):
        load_for_generation(str(tmp_path))
    with pytest.raises(UserError, match="no such folder"):
        load_for_generation(str(tmp_path / "missing"))
    scorer = GPT2ForSequenceClassification(GPT2Config(n_layer=1, n_embd=16, n_head=2, num_labels=1))
    models.save(scorer, AutoTokenizer.from_pretrained(decoder / "sft"), tmp_path / "reward")
    with pytest.raises(UserError, match="GPT2ForSequenceClassification, not a causal language model"):
        load_for_generation(str(tmp_path / "reward"))
    (tmp_path / "run.json").write_text(json.dumps({"stages": [{"name": "tok", "kind": "tokenizer", "status": "done"}]}))
    with pytest.raises(UserError, match="no finished pretrain/sft/dpo/ppo/rloo/grpo stage"):
        load_for_generation(str(tmp_path))


def test_sample_responses_are_distinct_and_seeded(loaded):
    prompts = [prompt(i) for i in range(5)]
    rows = sample_responses(loaded.model, loaded.tokenizer, prompts, k=4, seed=3, max_new_tokens=8)
    assert [r["prompt"] for r in rows] == prompts and len({r["id"] for r in rows}) == 5
    assert all(len(r["responses"]) == 4 and len(set(r["responses"])) == 4 for r in rows)
    assert rows[0]["sampling"]["k"] == 4 and rows[0]["sampling"]["seed"] == 3 and rows[0]["model"]
    again = sample_responses(loaded.model, loaded.tokenizer, prompts, k=4, seed=3, max_new_tokens=8)
    other = sample_responses(loaded.model, loaded.tokenizer, prompts, k=4, seed=4, max_new_tokens=8)
    assert again == rows and other != rows


def test_sample_command_writes_a_labelling_batch(decoder, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": prompt(i)}) + "\n" for i in range(3)))
    out = tmp_path / "batch.jsonl"
    args = ["sample", str(decoder), "--prompts", str(prompts), "-k", "3", "-o", str(out), "--max-new-tokens", "6"]
    assert main(args) == 0
    assert f"wrote 3 prompts x 3 responses to {out}" in capsys.readouterr().err
    batch = feedback.load_batch(out)  # what `hfpipeline label` reads
    assert len(batch.items) == 3 and all(len(set(item["responses"])) == 3 for item in batch.items)
    text = tmp_path / "prompts.txt"
    text.write_text("\n".join(prompt(i).replace("\n", " ") for i in range(2)) + "\n\n")
    assert (
        main(
            [
                "sample",
                str(decoder / "sft"),
                "--prompts",
                str(text),
                "-o",
                str(tmp_path / "b2.jsonl"),
                "--max-new-tokens",
                "4",
            ]
        )
        == 0
    )
    assert len(feedback.load_batch(tmp_path / "b2.jsonl").items) == 2
    # a batch that already has labels beside it is not overwritten
    feedback.labels_path_for(out).write_text("")
    capsys.readouterr()
    assert main(args) == 2 and "has labels beside it" in capsys.readouterr().err


def test_sample_names_the_bad_prompts_line(decoder, tmp_path, capsys):
    bad = tmp_path / "prompts.jsonl"
    bad.write_text(json.dumps({"prompt": "ok"}) + "\n\n" + json.dumps({"text": "no prompt"}) + "\n")
    assert main(["sample", str(decoder / "sft"), "--prompts", str(bad), "-o", str(tmp_path / "b.jsonl")]) == 2
    assert capsys.readouterr().err.startswith(f"{bad}:3: no 'prompt' text")


def test_a_run_dir_names_the_stage_it_loads_and_refuses_an_unfinished_one(decoder, tmp_path, capsys):
    import json
    import shutil

    from hfpipeline import rundir
    from hfpipeline.errors import UserError

    assert rundir.model_folder(str(decoder), kinds=("pretrain", "sft")) == str(decoder / "sft")
    assert f"using {decoder / 'sft'} (the sft stage)" in capsys.readouterr().err
    run = tmp_path / "run"
    shutil.copytree(decoder, run)
    manifest = json.loads((run / "run.json").read_text())
    manifest["stages"].append({"name": "dpo", "kind": "dpo", "status": "running"})  # a run still going on
    (run / "run.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match=r"its last pretrain/sft/dpo stage, 'dpo', is running, not finished.*run/sft"):
        rundir.model_folder(str(run), kinds=("pretrain", "sft", "dpo"))


def test_a_path_is_never_taken_for_a_hub_id(tmp_cwd, capsys):
    (tmp_cwd / "runs").mkdir()
    for path, message in (
        ("runs/nope", "runs/nope: no such folder"),
        ("./x", "./x: no such folder"),
        ("someone/model", "someone/model: no such folder, and not a model in the local Hub cache"),
    ):
        assert main(["generate", path, "hi"]) == 2
        assert message in capsys.readouterr().err

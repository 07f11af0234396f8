"""Every bad input gets one clear line: recipes, data files, command lines and web requests, each answered with exit
code 2 (3 for a refusing disk) or a 4xx, one line naming the file, key or value, no traceback, nothing written.

Nothing here trains: the recipe and data cases stop at validation, the command cases before a model is loaded.
"""

import errno
import hashlib
import http.client
import json
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO, write_jsonl

from hfpipeline import files
from hfpipeline.cli import main
from hfpipeline.feedback import server as label_server

RLHF, SUMMARIZE, CLASSIFY, FEEDBACK, BASE = (
    str(REPO / "recipes" / f"{n}.yaml") for n in ("rlhf", "summarize", "classify", "feedback", "rloo")
)  # BASE: the rlhf chain without a ppo stage, so the cases hold on a TRL without PPOTrainer too
NEEDS_PPO = (RLHF, FEEDBACK)


def params(cases: list) -> list:
    """(id, base, ...) rows as pytest params; a base recipe with a ppo stage needs TRL's PPOTrainer (marker ppo)."""
    return [pytest.param(*c[1:], id=c[0], marks=[pytest.mark.ppo] if c[1] in NEEDS_PPO else []) for c in cases]


def tree_hash(folder: Path) -> str:
    """A hash of every path and file content under `folder`."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def one_line_failure(argv, capsys, folder: Path, code: int = 2) -> str:
    """Run the CLI; assert exit `code`, a single stderr line, no traceback and `folder` unchanged; return the line."""
    before = tree_hash(folder)
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse
        rc = e.code
    err = capsys.readouterr().err.strip()
    assert rc == code, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert tree_hash(folder) == before
    return err


# --- recipes -------------------------------------------------------------------------------------------------

RECIPE_CASES = [  # (id, base recipe, overrides, fragment of the one line)
    (
        "vocab-negative",
        BASE,
        ["stages.tok.vocab_size=-100"],
        "stages[0].vocab_size: -100 is out of range: must be >= 1",
    ),
    ("vocab-zero", BASE, ["stages.tok.vocab_size=0"], "vocab_size: 0 is out of range"),
    ("vocab-specials-bpe", BASE, ["stages.tok.vocab_size=2"], "2 is too small for a bpe tokenizer: its 2 special"),
    ("vocab-unigram", SUMMARIZE, ["stages.tok.vocab_size=3"], "3 is too small for a unigram tokenizer"),
    ("vocab-wordpiece", CLASSIFY, ["stages.tok.vocab_size=5"], "5 is too small for a wordpiece tokenizer"),
    ("vocab-unigram-specials", SUMMARIZE, ["stages.tok.vocab_size=1"], "Use >= 4"),
    ("min-frequency", BASE, ["stages.tok.min_frequency=-1"], "min_frequency: -1 is out of range: must be >= 0"),
    ("model-max-length", BASE, ["stages.tok.model_max_length=0"], "model_max_length: 0 is out of range"),
    ("max-rows-negative", BASE, ["stages.tok.data={path: demo:corpus, max_rows: -5}"], "data.max_rows: -5"),
    ("max-rows-zero", BASE, ["stages.tok.data={path: demo:corpus, max_rows: 0}"], "data.max_rows: 0 is out of range"),
    (
        "validation-size-zero",
        BASE,
        ["stages.sft.data={path: demo:instructions, validation_size: 0}"],
        "validation_size: 0 must be a fraction",
    ),
    ("test-size-negative", BASE, ["stages.sft.data={path: demo:instructions, test_size: -1}"], "test_size: -1"),
    ("block-size-zero", BASE, ["stages.pretrain.block_size=0"], "block_size: 0 is out of range"),
    ("block-size-negative", BASE, ["stages.pretrain.block_size=-3"], "block_size: -3"),
    ("mlm-probability-high", CLASSIFY, ["stages.pretrain.mlm_probability=1.5"], "mlm_probability: 1.5 is out of range"),
    ("mlm-probability-zero", CLASSIFY, ["stages.pretrain.mlm_probability=0"], "must be in (0, 1)"),
    (
        "gpt2-heads",
        BASE,
        ["stages.pretrain.model.n_embd=100", "stages.pretrain.model.n_head=3"],
        "n_embd=100 is not divisible by n_head=3",
    ),
    ("gpt2-default-heads", BASE, ["stages.pretrain.model.n_head=5"], "n_embd=128 is not divisible by n_head=5"),
    (
        "bert-heads",
        CLASSIFY,
        ["stages.pretrain.model.num_attention_heads=5"],
        "hidden_size=128 is not divisible by num_attention_heads=5",
    ),
    (
        "llama-kv-heads",
        BASE,
        ["stages.pretrain.model={from_config: llama, hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 3}"],
        "4 is not divisible by num_key_value_heads=3",
    ),
    (
        "qwen2-default-kv-heads",
        BASE,
        ["stages.pretrain.model={from_config: qwen2, hidden_size: 64, num_attention_heads: 4}"],
        "model.num_key_value_heads: num_attention_heads=4 is not divisible by num_key_value_heads=32",
    ),
    ("layers-zero", BASE, ["stages.pretrain.model.n_layer=0"], "model.n_layer: 0 is out of range"),
    ("positions-negative", BASE, ["stages.pretrain.model.n_positions=-1"], "n_positions: -1"),
    ("t5-layers-zero", SUMMARIZE, ["stages.summarize.model.num_layers=0"], "num_layers: 0"),
    ("dropout", BASE, ["stages.pretrain.model.resid_pdrop=1.5"], "resid_pdrop: 1.5 is out of range"),
    ("config-vocab", BASE, ["stages.pretrain.model.vocab_size=50"], "vocab_size: is taken from the tokenizer"),
    ("config-pad", BASE, ["stages.pretrain.model.pad_token_id=0"], "pad_token_id: is taken from the tokenizer"),
    ("lr-negative", BASE, ["stages.pretrain.train.learning_rate=-1"], "learning_rate: -1 is out of range: must be > 0"),
    ("lr-zero", BASE, ["stages.sft.train.learning_rate=0"], "learning_rate: 0 is out of range"),
    ("lr-string", BASE, ["stages.sft.train.learning_rate='-1e-3'"], "learning_rate: -0.001 is out of range"),
    ("lr-nan", BASE, ["stages.sft.train.learning_rate=.nan"], "nan is out of range"),
    ("lr-default", BASE, ["defaults.train.learning_rate=-1"], "defaults.train.learning_rate: -1"),
    ("batch-zero", BASE, ["stages.pretrain.train.per_device_train_batch_size=0"], "per_device_train_batch_size: 0"),
    ("eval-batch-zero", BASE, ["stages.sft.train.per_device_eval_batch_size=0"], "per_device_eval_batch_size: 0"),
    ("accumulation-zero", BASE, ["stages.sft.train.gradient_accumulation_steps=0"], "gradient_accumulation_steps: 0"),
    ("epochs-zero", BASE, ["stages.sft.train.num_train_epochs=0"], "num_train_epochs: 0 is out of range: must be > 0"),
    ("epochs-negative", BASE, ["stages.sft.train.num_train_epochs=-2"], "num_train_epochs: -2"),
    ("max-steps-zero", BASE, ["stages.sft.train.max_steps=0"], "max_steps: 0 is out of range: must be >= 1 (or -1"),
    ("max-steps-negative", BASE, ["stages.sft.train.max_steps=-5"], "max_steps: -5"),
    ("seed-negative", BASE, ["seed=-1"], "seed: -1 is out of range"),
    ("seed-too-big", BASE, ["seed=4294967296"], "seed: 4294967296 is out of range"),
    ("train-seed", BASE, ["stages.sft.train.seed=-1"], "train.seed: -1"),
    ("data-seed", BASE, ["stages.sft.train.data_seed=-1"], "train.data_seed: -1"),
    ("weight-decay", BASE, ["stages.sft.train.weight_decay=-0.1"], "weight_decay: -0.1"),
    ("warmup", BASE, ["stages.pretrain.train.warmup_steps=-1"], "warmup_steps: -1"),
    ("adam-beta", BASE, ["stages.sft.train.adam_beta1=1.0"], "adam_beta1: 1.0 is out of range"),
    ("adam-epsilon", BASE, ["stages.sft.train.adam_epsilon=0"], "adam_epsilon: 0"),
    ("logging-steps", BASE, ["stages.sft.train.logging_steps=0"], "logging_steps: 0"),
    ("save-total-limit", BASE, ["stages.sft.train.save_total_limit=0"], "save_total_limit: 0"),
    ("grad-norm", BASE, ["stages.sft.train.max_grad_norm=-1"], "max_grad_norm: -1"),
    ("workers", BASE, ["stages.sft.train.dataloader_num_workers=-1"], "dataloader_num_workers: -1"),
    ("sft-max-length", BASE, ["stages.sft.train.max_length=0"], "stages[2].train.max_length: 0"),
    ("reward-max-length", BASE, ["stages.reward.train.max_length=-1"], "max_length: -1"),
    ("ppo-kl", RLHF, ["stages.ppo.train.kl_coef=-0.1"], "kl_coef: -0.1"),
    ("ppo-response-length", RLHF, ["stages.ppo.train.response_length=0"], "response_length: 0"),
    ("ppo-episodes", RLHF, ["stages.ppo.train.total_episodes=0"], "total_episodes: 0"),
    ("ppo-gamma", RLHF, ["stages.ppo.train.gamma=1.5"], "gamma: 1.5"),
    ("ppo-epochs", RLHF, ["stages.ppo.train.num_ppo_epochs=0"], "num_ppo_epochs: 0"),
    ("ppo-temperature", RLHF, ["stages.ppo.train.temperature=0"], "stages[4].train.temperature: 0 is out of range"),
    ("ppo-mini-batches", RLHF, ["stages.ppo.train.num_mini_batches=0"], "num_mini_batches: 0"),
    ("lora-r", BASE, ["stages.sft.peft={r: 0}"], "peft.r: 0 is out of range"),
    ("lora-dropout", BASE, ["stages.sft.peft={r: 8, lora_dropout: 1.0}"], "lora_dropout: 1.0"),
    ("lora-alpha", BASE, ["stages.sft.peft={r: 8, lora_alpha: 0}"], "lora_alpha: 0"),
    ("source-length", SUMMARIZE, ["stages.summarize.max_source_length=0"], "max_source_length: 0"),
    ("target-length", SUMMARIZE, ["stages.summarize.max_target_length=-1"], "max_target_length: -1"),
    ("beams", SUMMARIZE, ["stages.summarize.generation={num_beams: 0}"], "generation.num_beams: 0"),
    ("gen-top-p", SUMMARIZE, ["stages.summarize.generation={top_p: 1.5}"], "generation.top_p: 1.5"),
    ("gen-temperature", SUMMARIZE, ["stages.summarize.generation={temperature: 0}"], "generation.temperature: 0"),
    ("gen-new-tokens", SUMMARIZE, ["stages.summarize.generation={max_new_tokens: 0}"], "max_new_tokens: 0"),
    ("gen-repetition", SUMMARIZE, ["stages.summarize.generation={repetition_penalty: 0}"], "repetition_penalty: 0"),
    ("gen-ngram", SUMMARIZE, ["stages.summarize.generation={no_repeat_ngram_size: -1}"], "no_repeat_ngram_size: -1"),
    ("eval-beams", SUMMARIZE, ["stages.summarize.train.generation_num_beams=0"], "generation_num_beams: 0"),
    ("sample-k-one", FEEDBACK, ["stages.sample.k=1"], "stages[3].k: 1 is out of range: must be >= 2"),
    ("sample-k-zero", FEEDBACK, ["stages.sample.k=0"], "stages[3].k: 0"),
    ("sample-new-tokens", FEEDBACK, ["stages.sample.max_new_tokens=0"], "stages[3].max_new_tokens: 0"),
    ("sample-temperature", FEEDBACK, ["stages.sample.temperature=-1"], "stages[3].temperature: -1 is out of range"),
    ("sample-top-p", FEEDBACK, ["stages.sample.top_p=0"], "stages[3].top_p: 0 is out of range"),
    ("sample-top-k", FEEDBACK, ["stages.sample.top_k=-1"], "stages[3].top_k: -1"),
    ("classify-max-length", CLASSIFY, ["stages.classify.max_length=0"], "stages[2].max_length: 0"),
    ("override-bad-yaml", BASE, ["stages.sft.train.learning_rate=[1,"], "'[1,' is not a valid YAML value"),
    ("override-empty", BASE, ["stages.sft.data="], "override 'stages.sft.data=': empty value"),
    ("override-no-key", BASE, ["=5"], "override '=5': expected key.path=value"),
    ("override-empty-part", BASE, ["stages..train.x=1"], "expected key.path=value"),
    ("override-unknown-stage", BASE, ["stages.nope.train.learning_rate=1"], "no stage named 'nope'"),
    ("output-dir-empty", BASE, ["output_dir=''"], "output_dir: empty"),
]


@pytest.mark.parametrize("base,overrides,fragment", params(RECIPE_CASES))
def test_bad_recipe_value(base, overrides, fragment, tmp_path, capsys):
    line = one_line_failure(["validate", base, f"output_dir={tmp_path / 'run'}", *overrides], capsys, tmp_path)
    assert fragment in line and line.startswith((base, "override ")), line
    assert not (tmp_path / "run").exists()


def test_output_dir_that_is_a_file(tmp_path, capsys):
    (tmp_path / "taken").write_text("not a folder")
    line = one_line_failure(["validate", BASE, f"output_dir={tmp_path / 'taken'}"], capsys, tmp_path)
    assert "taken: is a file, not a folder" in line
    line = one_line_failure(["validate", BASE, f"output_dir={tmp_path / 'taken' / 'run'}"], capsys, tmp_path)
    assert "which is a file" in line


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi")
)
YAML_CASES = [  # (id, recipe text or bytes, fragment)
    ("billion-laughs", LAUGHS, "expand to more than 100,000 values"),
    ("self-alias", "name: x\nstages: &s [*s]\n", "an alias refers to the node that contains it"),
    ("self-alias-map", "name: &n {a: *n}\nstages: []\n", "an alias refers to the node that contains it"),
    ("deep-nesting", "name: x\nstages: " + "[" * 20000 + "]" * 20000 + "\n", "invalid YAML"),
    ("not-utf8", b"name: \xff\xfe\nstages: []\n", "not valid UTF-8"),
    ("tab-indent", "name: x\nstages:\n\t- name: t\n", "invalid YAML"),
    ("scalar", "just text\n", "a recipe is a YAML mapping"),
    ("empty-file", "", "a recipe is a YAML mapping"),
    (
        "secret-type",
        "name: x\nstages:\n  - {name: t, kind: tokenizer, data: demo:corpus}\n"
        "  - {name: p, kind: pretrain, tokenizer: t, model: {from_config: gpt2, n_embd: 32, n_head: 2},\n"
        "     data: demo:corpus, train: {hub_token: ['hf_x']}}\n",
        "hub_token: expected str, got list [***]",
    ),
]


@pytest.mark.parametrize("text,fragment", [c[1:] for c in YAML_CASES], ids=[c[0] for c in YAML_CASES])
def test_bad_yaml(text, fragment, tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_bytes(text if isinstance(text, bytes) else text.encode())
    start = time.perf_counter()
    line = one_line_failure(["validate", str(recipe)], capsys, tmp_path)
    assert fragment in line and line.startswith(str(recipe)), line
    assert "hf_x" not in line
    assert time.perf_counter() - start < 5  # bounded: a billion laughs must not expand


@pytest.mark.parametrize("command", ["validate", "run"])
def test_recipe_path_is_a_folder_or_missing(command, tmp_path, capsys):
    assert "is a folder, not a recipe file" in one_line_failure([command, str(tmp_path)], capsys, tmp_path)
    assert "no such recipe file" in one_line_failure([command, str(tmp_path / "none.yaml")], capsys, tmp_path)


def test_absurd_values_warn_but_pass(tmp_path, capsys):
    assert main(["validate", BASE, f"output_dir={tmp_path}/run", "stages.sft.train.num_train_epochs=1e9"]) == 0
    err = capsys.readouterr().err
    assert "stages[2].train.num_train_epochs: warning: '1e9' is legal but absurd" in err
    assert main(["validate", BASE, f"output_dir={tmp_path}/run", "stages.tok.vocab_size=100"]) == 0
    assert "stages[0].vocab_size: warning: 100 is below byte-level BPE's 256 byte tokens" in capsys.readouterr().err
    steps = ["stages.sft.train.num_train_epochs=100000", "stages.sft.train.per_device_train_batch_size=1"]
    assert main(["validate", BASE, f"output_dir={tmp_path}/run", *steps]) == 0
    assert (
        "num_train_epochs: warning: 100000 epochs of 1,200 rows at batch 1 is about 120,000,000 steps"
        in capsys.readouterr().err
    )
    assert main(["validate", BASE, f"output_dir={tmp_path}/run", *steps, "stages.sft.train.max_steps=10"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_secrets_redacted_in_resolved_recipe():
    from hfpipeline.recipe import redact

    raw = {
        "stages": [
            {
                "train": {"hub_token": "hf_real", "max_new_tokens": 5},
                "db_password": "pw",
                "secret": "s",
                "tokenizer": "tok",
                "api_token": 123456,
            }
        ]
    }
    assert redact(raw) == {
        "stages": [
            {
                "train": {"hub_token": "***", "max_new_tokens": 5},
                "db_password": "***",
                "secret": "***",
                "tokenizer": "tok",
                "api_token": "***",
            }
        ]
    }
    assert raw["stages"][0]["train"]["hub_token"] == "hf_real"  # the library config still gets the real value
    assert "redact(recipe.raw)" in (REPO / "hfpipeline" / "pipeline.py").read_text()


def test_validate_takes_overrides(tmp_path, capsys):
    assert main(["validate", BASE, f"output_dir={tmp_path}/run", "stages.tok.vocab_size=500"]) == 0
    assert "OK" in capsys.readouterr().out


# --- data files ----------------------------------------------------------------------------------------------


def rows(*items) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in items).encode()


def parquet(table: dict) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table(table), buf)
    return buf.getvalue()


CHAT = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
DATA_CASES = [  # (id, recipe, stage, file name, content, extra block keys, fragment)
    ("zero-bytes", BASE, "tok", "d.jsonl", b"", "", "d.jsonl: no rows. The file is empty (0 bytes)"),
    ("blank-lines", BASE, "tok", "d.jsonl", b"\n\n  \n", "", "d.jsonl: no rows"),
    ("text-int", BASE, "tok", "d.jsonl", rows({"text": "a"}, {"text": 5}), "", "d.jsonl:2: column 'text' holds int 5"),
    ("text-null", BASE, "pretrain", "d.jsonl", rows({"text": None}), "", "column 'text' holds NoneType"),
    (
        "column-missing-later",
        BASE,
        "tok",
        "d.jsonl",
        rows({"text": "a"}, {"txt": "b"}),
        "",
        "d.jsonl:2: no 'text' column",
    ),
    ("bad-json", BASE, "tok", "d.jsonl", b'{"text": "a"}\n{"text": "b"}\n{"text": \n', "", "d.jsonl:3: not valid JSON"),
    ("bad-utf8", BASE, "tok", "d.jsonl", b'{"text": "a"}\n{"text": "\xff"}\n', "", "d.jsonl:2: not valid UTF-8"),
    ("row-not-object", BASE, "tok", "d.jsonl", b'{"text": "a"}\n[1, 2]\n', "", "d.jsonl:2: expected a JSON object"),
    (
        "no-assistant",
        BASE,
        "sft",
        "d.jsonl",
        rows({"messages": CHAT}, {"messages": CHAT[:1]}),
        "",
        "d.jsonl:2: column 'messages' has no assistant message",
    ),
    (
        "unknown-role",
        BASE,
        "sft",
        "d.jsonl",
        rows({"messages": [{"role": "bot", "content": "x"}, CHAT[1]]}),
        "",
        "unknown role 'bot'",
    ),
    ("messages-string", BASE, "sft", "d.jsonl", rows({"messages": "hi"}), "", "expected a list of messages"),
    ("message-not-dict", BASE, "sft", "d.jsonl", rows({"messages": ["hi", CHAT[1]]}), "", "message 0: expected"),
    (
        "content-int",
        BASE,
        "sft",
        "d.jsonl",
        rows({"messages": [{"role": "user", "content": 3}, CHAT[1]]}),
        "",
        "message 0: content holds int",
    ),
    ("messages-empty", BASE, "sft", "d.jsonl", rows({"messages": []}), "", "holds an empty list of messages"),
    (
        "completion-null",
        BASE,
        "sft",
        "d.jsonl",
        rows({"prompt": "p", "completion": None}),
        "",
        "column 'completion' holds NoneType",
    ),
    (
        "chosen-int",
        BASE,
        "reward",
        "d.jsonl",
        rows({"prompt": "p", "chosen": 1, "rejected": "r"}),
        "",
        "column 'chosen' holds int",
    ),
    (
        "rejected-chat-no-assistant",
        BASE,
        "reward",
        "d.jsonl",
        rows({"prompt": "p", "chosen": CHAT, "rejected": CHAT[:1]}),
        "",
        "'rejected' has no assistant message",
    ),
    ("ppo-prompt-dict", RLHF, "ppo", "d.jsonl", rows({"prompt": {"a": 1}}), "", "column 'prompt' holds dict"),
    ("rl-prompt-dict", BASE, "rloo", "d.jsonl", rows({"prompt": {"a": 1}}), "", "column 'prompt' holds dict"),
    (
        "seq2seq-target-list",
        SUMMARIZE,
        "summarize",
        "d.jsonl",
        rows({"document": "d", "summary": ["s"]}),
        ", source_field: document, target_field: summary",
        "column 'summary' holds list",
    ),
    (
        "label-bool",
        CLASSIFY,
        "classify",
        "d.jsonl",
        rows(*[{"text": "t", "label": True}] * 5),
        "",
        "a label is an integer or a string",
    ),
    ("label-list", CLASSIFY, "classify", "d.jsonl", rows(*[{"text": "t", "label": [1]}] * 5), "", "column 'label'"),
    ("missing-column", CLASSIFY, "classify", "d.jsonl", rows({"text": "t"}), "", "missing column 'label'"),
    (
        "classify-two-rows",
        CLASSIFY,
        "classify",
        "d.jsonl",
        rows(*[{"text": "t", "label": 1}] * 2),
        "",
        "d.jsonl: 2 rows; a classify stage needs >= 3 (2 to train on after holding out 0.1",
    ),
    ("classify-one-row", CLASSIFY, "classify", "d.jsonl", rows({"text": "t", "label": 1}), "", "1 rows; a classify"),
    (
        "validation-count",
        BASE,
        "sft",
        "d.jsonl",
        rows(*[{"prompt": "p", "completion": "c"}] * 5),
        ", validation_size: 5",
        "5 rows; a sft stage needs >= 6",
    ),
    ("one-block", BASE, "pretrain", "d.jsonl", rows(*[{"text": "tiny"}] * 3), "", "fewer than one block of 512 tokens"),
    (
        "csv-ragged",
        CLASSIFY,
        "classify",
        "d.csv",
        b'text,label\nok,1\n"a, b",1\nx,1,extra\n',
        "",
        "d.csv:4: 3 fields, but the header has 2",
    ),
    ("csv-short-row", CLASSIFY, "classify", "d.csv", b"text,label\nok,1\nlonely\n", "", "d.csv:3: 1 fields"),
    ("csv-bad-utf8", CLASSIFY, "classify", "d.csv", b"text,label\nok,1\n\xff,1\n", "", "d.csv:3: not valid UTF-8"),
    ("csv-header-only", CLASSIFY, "classify", "d.csv", b"text,label\n", "", "d.csv: no rows"),
    ("csv-missing-column", CLASSIFY, "classify", "d.csv", b"text,score\nok,1\n", "", "missing column 'label'"),
    ("csv-zero-bytes", CLASSIFY, "classify", "d.csv", b"", "", "d.csv: no rows. The file is empty (0 bytes)"),
    ("json-array-item", BASE, "tok", "d.json", b'[{"text": "a"}, 3]', "", "d.json: item 2 is a int"),
    ("json-broken", BASE, "tok", "d.json", b'[{"text": "a"},', "", "d.json: not valid JSON"),
    ("jsonl-as-parquet", BASE, "tok", "d.parquet", rows({"text": "a"}), "", "holds JSON, not parquet. Rename it"),
    (
        "parquet-truncated",
        BASE,
        "tok",
        "d.parquet",
        lambda: parquet({"text": ["a"] * 50})[:-30],
        "",
        "not a parquet file (truncated",
    ),
    (
        "parquet-int-text",
        BASE,
        "tok",
        "d.parquet",
        lambda: parquet({"text": [1, 2]}),
        "",
        "column 'text' has type int64",
    ),
    ("parquet-missing-column", BASE, "tok", "d.parquet", lambda: parquet({"body": ["a"]}), "", "missing column 'text'"),
    ("parquet-no-rows", BASE, "tok", "d.parquet", lambda: parquet({"text": pa_strings()}), "", "d.parquet: no rows"),
    ("unsupported-format", BASE, "tok", "d.txt", b"text\n", "", "unsupported format '.txt'"),
]


def pa_strings():
    import pyarrow as pa

    return pa.array([], pa.string())


@pytest.mark.parametrize("recipe,stage,name,content,extra,fragment", params(DATA_CASES))
def test_bad_data_file(recipe, stage, name, content, extra, fragment, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / name).write_bytes(content() if callable(content) else content)
    block = "block_size=512" if "one block" in fragment else None
    argv = ["validate", recipe, f"output_dir={tmp_path / 'run'}", f"stages.{stage}.data={{path: {data / name}{extra}}}"]
    line = one_line_failure(argv + ([f"stages.{stage}.{block}"] if block else []), capsys, tmp_path)
    assert fragment in line and "stages[" in line and ".data.path: " in line, line


def test_data_folders(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    argv = ["validate", BASE, f"output_dir={tmp_path / 'run'}"]
    line = one_line_failure(argv + [f"stages.tok.data={{path: {tmp_path / 'empty'}}}"], capsys, tmp_path)
    assert "empty: a folder with no data files" in line
    (tmp_path / "parts").mkdir()
    write_jsonl(tmp_path / "parts" / "a.jsonl", [{"text": "fine"}])
    write_jsonl(tmp_path / "parts" / "b.jsonl", [{"text": 1}])
    line = one_line_failure(argv + [f"stages.tok.data={{path: {tmp_path / 'parts'}}}"], capsys, tmp_path)
    assert "b.jsonl:1: column 'text' holds int" in line
    line = one_line_failure(argv + [f"stages.tok.data={{path: {tmp_path / 'none'}}}"], capsys, tmp_path)
    assert "none: no such file or folder" in line
    (tmp_path / "mixed").mkdir()
    write_jsonl(tmp_path / "mixed" / "a.jsonl", [{"text": "fine"}])
    (tmp_path / "mixed" / "b.parquet").write_bytes(parquet({"text": ["also fine"]}))
    assert main(argv + [f"stages.tok.data={{path: {tmp_path / 'mixed'}}}"]) == 0


def test_chosen_equal_rejected_is_a_warning(tmp_path, capsys):
    data = write_jsonl(
        tmp_path / "prefs.jsonl",
        [{"prompt": "p", "chosen": "a", "rejected": "a"}] * 3 + [{"prompt": "p", "chosen": "a", "rejected": "b"}] * 17,
    )
    assert main(["validate", BASE, f"output_dir={tmp_path}/run", f"stages.reward.data={{path: {data}}}"]) == 0
    err = capsys.readouterr().err
    assert "stages[3].data.path: warning: " in err and "3 of 20 rows have chosen == rejected" in err


# --- command line --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def transformers_logging_outside_capsys():
    """`classify` imports transformers, whose log handler keeps the sys.stderr it first sees: let that be pytest's
    own stream, not one test's capsys stream that is closed after it (later tests would log "Logging error")."""
    import transformers.utils.logging  # noqa: F401


@pytest.fixture
def broken_models(tmp_path):
    """Model folders whose weights are damaged in different ways, a run dir with a damaged run.json, and files."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    whole = len(header).to_bytes(8, "little") + header + bytes(16)
    weights = {
        "truncated": whole[:-5],
        "short": b"\x01\x02",
        "huge-header": (10**9).to_bytes(8, "little") + header,
        "not-json": (5).to_bytes(8, "little") + b"nope!" + bytes(16),
        "padded": whole + bytes(7),
    }
    for name, blob in weights.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}))
        (folder / "model.safetensors").write_bytes(blob)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text('{"name": "x", "stages": [')
    (tmp_path / "doc.txt").write_text("A document.\n")
    (tmp_path / "notes.txt").write_text("notes\n")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    (tmp_path / "nul.txt").write_bytes(b"text\x00more")
    (tmp_path / "empty.txt").write_text("  \n")
    write_jsonl(tmp_path / "rows.jsonl", [{"body": "no text column"}])
    write_jsonl(tmp_path / "batch.jsonl", [{"id": "a", "prompt": "p", "responses": ["x", "y"]}])
    return tmp_path


CLI_CASES = [  # (id, argv with {d} for the fixture folder, fragment); exit code 2
    ("max-new-tokens-negative", "generate m --max-new-tokens -1", "argument --max-new-tokens: -1 is out of range"),
    ("max-new-tokens-zero", "generate m --max-new-tokens 0", "--max-new-tokens: 0 is out of range: must be >= 1"),
    ("max-new-tokens-word", "generate m --max-new-tokens many", "'many' is not an integer"),
    ("return-sequences", "generate m --num-return-sequences 0", "--num-return-sequences: 0 is out of range"),
    ("top-p-high", "generate m --top-p 5", "--top-p: 5.0 is out of range: must be in (0, 1]"),
    ("top-p-zero", "generate m --top-p 0", "--top-p: 0.0 is out of range"),
    ("top-p-word", "generate m --top-p high", "'high' is not a number"),
    ("temperature", "generate m --temperature -1", "--temperature: -1.0 is out of range: must be >= 0"),
    ("temperature-nan", "generate m --temperature nan", "--temperature: nan is out of range"),
    ("top-k", "generate m --top-k -1", "--top-k: -1 is out of range"),
    ("seed", "generate m --seed -1", "--seed: -1 is out of range"),
    ("sample-k-zero", "sample m --prompts p.txt -k 0", "argument -k: 0 is out of range: must be >= 2"),
    ("sample-k-one", "sample m --prompts p.txt -k 1", "argument -k: 1 is out of range"),
    ("sample-top-p", "sample m --prompts p.txt --top-p 2", "--top-p: 2.0 is out of range"),
    ("port-high", "label b.jsonl --port 99999", "--port: 99999 is out of range: must be in [0, 65535]"),
    ("port-negative", "label b.jsonl --port -1", "--port: -1 is out of range"),
    ("max-words", "summarize m --max-words 0", "--max-words: 0 is out of range"),
    ("summarize-beams", "summarize m --num-beams 0", "--num-beams: 0 is out of range"),
    ("translate-beams", "translate m --num-beams -2", "--num-beams: -2 is out of range"),
    ("num-processes", "launch r.yaml --accelerate-config a.yaml --num-processes 0", "--num-processes: 0 is out of"),
    ("no-recipe", "run", "the following arguments are required: recipe"),
    ("unknown-command", "trian r.yaml", "invalid choice: 'trian'"),
    ("unknown-flag", "run r.yaml --bogus", "unrecognized arguments: --bogus"),
    ("validate-overrides-only", "validate a=1", "validate: no recipe file given"),
    ("inspect-relative-file", "inspect notes.txt", "notes.txt: is a file, not a model folder"),
    ("inspect-binary-file", "inspect m --file blob.bin", "blob.bin:2: not valid UTF-8 (a binary file?)"),
    ("inspect-nul-file", "inspect m --file nul.txt", "nul.txt:1: holds a NUL byte"),
    ("inspect-missing-file", "inspect m --file none.txt", "none.txt: no such file"),
    ("weights-truncated", "generate truncated hi", "truncated/model.safetensors: corrupt or truncated weights"),
    ("weights-short", "classify short hi", "short/model.safetensors: corrupt or truncated weights (2 bytes"),
    ("weights-huge-header", "summarize huge-header doc.txt", "header of 1000000000 bytes"),
    ("weights-not-json", "inspect not-json", "its header is not JSON"),
    ("weights-padded", "generate padded hi", "where the header describes"),
    ("run-json-damaged", "generate run hi", "run/run.json: damaged JSON (line 1"),
    ("run-json-damaged-classify", "classify run hi", "damaged JSON"),
    ("sample-missing-prompts", "sample m --prompts none.jsonl -k 2", "none.jsonl: no such file"),
    ("sample-binary-prompts", "sample m --prompts blob.bin -k 2", "blob.bin:2: not valid UTF-8"),
    ("sample-prompt-missing", "sample m --prompts rows.jsonl -k 2 -o out.jsonl", "rows.jsonl:1: no 'prompt' text"),
    ("classify-binary-file", "classify m --file blob.bin", "blob.bin:2: not valid UTF-8"),
    ("classify-jsonl-no-text", "classify m --file rows.jsonl", "rows.jsonl: row 1 has no text"),
    ("summarize-binary", "summarize m blob.bin", "blob.bin:2: not valid UTF-8"),
    ("summarize-empty", "summarize m empty.txt", "empty.txt: empty document"),
    ("translate-nul", "translate m nul.txt", "nul.txt:1: holds a NUL byte"),
    ("translate-empty", "translate m empty.txt", "empty.txt: nothing to translate"),
    ("generate-empty-prompt", "generate m ' '", "no prompt"),
    ("label-missing-batch", "label none.jsonl", "none.jsonl: no such batch file"),
    ("label-bad-tags", "label batch.jsonl --tags 'a b'", "--tags: 'a b' is not a valid tag name"),
    ("label-bad-host", "label batch.jsonl --host no.such.host.invalid --port 0", "cannot listen on no.such.host"),
]


@pytest.mark.parametrize("argv,fragment", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_bad_command_line(argv, fragment, broken_models, monkeypatch, capsys):
    import shlex

    monkeypatch.chdir(broken_models)
    line = one_line_failure(shlex.split(argv), capsys, broken_models)
    assert fragment in line, line


def test_run_with_damaged_run_json_changes_nothing(broken_models, capsys):
    line = one_line_failure(["run", BASE, f"output_dir={broken_models / 'run'}"], capsys, broken_models)
    assert "run.json: damaged JSON" in line and "delete it and rerun with --overwrite" in line


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_disk_refusing_writes_exit_3_leaving_nothing(code, tmp_path, monkeypatch, capsys):
    def refuse(fd):
        raise OSError(code, "refused")

    monkeypatch.setattr(files.os, "fsync", refuse)
    run = tmp_path / "run"
    line = one_line_failure(["run", BASE, f"output_dir={run}"], capsys, REPO / "recipes", code=3)
    assert f"{run / 'run.json'}: cannot write: " in line
    assert not [p for p in run.rglob("*") if p.is_file()]  # no half-written run.json, no temporary file


# --- the labelling server ------------------------------------------------------------------------------------


@pytest.fixture
def batch(tmp_path):
    return write_jsonl(tmp_path / "batch.jsonl", [{"id": "q0", "prompt": "p", "responses": ["a", "b", "c"]}])


def start(srv):
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return srv


@pytest.fixture
def server(batch):
    srv = start(label_server.make_server(batch, "127.0.0.1", 0))
    yield srv
    srv.shutdown()
    srv.server_close()


def call(srv, method, path, body=None, headers=None, host="127.0.0.1"):
    """(status, headers, parsed body) of one request."""
    conn = http.client.HTTPConnection(host, srv.server_address[1], timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    is_json = resp.getheader("Content-Type", "").startswith("application/json")
    return resp.status, resp, json.loads(data) if is_json else data


LABEL = json.dumps({"id": "q0", "ranking": [0, 1, 2]}).encode()
JSON = {"Content-Type": "application/json"}
SERVER_CASES = [  # (id, method, path, body, headers, status, fragment of the error)
    ("foreign-host", "GET", "/api/state", None, {"Host": "evil.example"}, 403, "unexpected Host header"),
    ("foreign-host-post", "POST", "/api/label", LABEL, {**JSON, "Host": "evil.example:80"}, 403, "unexpected Host"),
    ("foreign-origin", "POST", "/api/label", LABEL, {**JSON, "Origin": "http://evil.example"}, 403, "cross-origin"),
    ("null-origin", "POST", "/api/label", LABEL, {**JSON, "Origin": "null"}, 403, "cross-origin"),
    ("put", "PUT", "/api/label", LABEL, JSON, 405, "method PUT not allowed"),
    ("delete", "DELETE", "/api/label", None, {}, 405, "method DELETE not allowed"),
    ("patch", "PATCH", "/api/label", LABEL, JSON, 405, "not allowed"),
    ("options", "OPTIONS", "/", None, {}, 405, "not allowed"),
    ("made-up-method", "BREW", "/", None, {}, 405, "not allowed"),
    ("text-plain", "POST", "/api/label", LABEL, {"Content-Type": "text/plain"}, 415, "application/json"),
    ("not-json", "POST", "/api/label", b"{nope", JSON, 400, "not valid JSON"),
    ("not-utf8", "POST", "/api/label", b'{"id": "\xff"}', JSON, 400, "not valid JSON"),
    ("deep-json", "POST", "/api/label", b"[" * 50 + b"]" * 50, JSON, 400, "nests deeper than 8 levels"),
    ("very-deep-json", "POST", "/api/label", b"[" * 100000 + b"]" * 100000, JSON, 400, "nests deeper"),
    ("empty-body", "POST", "/api/label", b"", JSON, 400, "body must be 1.."),
    (
        "too-big",
        "POST",
        "/api/label",
        b"{}",
        {**JSON, "Content-Length": str(label_server.MAX_BODY + 1)},
        400,
        "body must be 1..",
    ),
    ("unknown-item", "POST", "/api/label", json.dumps({"id": "zz", "ranking": [0, 1, 2]}).encode(), JSON, 400, "zz"),
    (
        "bad-ranking",
        "POST",
        "/api/label",
        json.dumps({"id": "q0", "ranking": [0, 0, 1]}).encode(),
        JSON,
        400,
        "ranking",
    ),
    ("unknown-endpoint", "POST", "/api/other", LABEL, JSON, 404, "no such endpoint"),
    ("unknown-page", "GET", "/secret", None, {}, 404, "no such page"),
    ("unknown-id", "GET", "/api/item/nope", None, {}, 404, "unknown id"),
]


@pytest.mark.parametrize(
    "method,path,body,headers,status,fragment", [c[1:] for c in SERVER_CASES], ids=[c[0] for c in SERVER_CASES]
)
def test_bad_request(server, batch, method, path, body, headers, status, fragment):
    before = tree_hash(batch.parent)
    got, resp, reply = call(server, method, path, body, headers)
    assert got == status, reply
    assert fragment in reply["error"], reply
    assert tree_hash(batch.parent) == before
    if status == 405:
        assert resp.getheader("Allow") == "GET, POST"


def test_page_refuses_framing(server):
    status, resp, _ = call(server, "GET", "/")
    assert status == 200 and resp.getheader("X-Frame-Options") == "DENY"
    assert "frame-ancestors 'none'" in resp.getheader("Content-Security-Policy")


def test_same_origin_post_is_accepted(server, batch):
    port = server.server_address[1]
    status, _, reply = call(server, "POST", "/api/label", LABEL, {**JSON, "Origin": f"http://127.0.0.1:{port}"})
    assert status == 200 and reply["saved"]["ranking"] == [0, 1, 2]


@pytest.fixture
def public_server(batch):
    srv = start(label_server.make_server(batch, "0.0.0.0", 0, allow_hosts=["labels.example"]))
    yield srv
    srv.shutdown()
    srv.server_close()


def test_public_bind_needs_the_token(public_server, batch):
    token = public_server.token
    assert token and f"?token={token}" in label_server.server_url(public_server)
    before = tree_hash(batch.parent)
    assert call(public_server, "GET", "/api/state")[0] == 403
    assert "wrong token" in call(public_server, "GET", "/api/state?token=nope")[2]["error"]
    assert call(public_server, "POST", "/api/label", LABEL, JSON)[0] == 403
    assert call(public_server, "GET", "/api/state", headers={"Host": "evil.example"})[0] == 403
    assert tree_hash(batch.parent) == before
    status, resp, _ = call(public_server, "GET", f"/?token={token}", headers={"Host": "labels.example"})
    assert status == 200 and f"{label_server.COOKIE}={token}" in resp.getheader("Set-Cookie")
    cookie = {"Cookie": f"{label_server.COOKIE}={token}", **JSON}
    assert call(public_server, "POST", "/api/label", LABEL, cookie)[0] == 200


def test_machine_names_are_allowed_on_a_public_bind(public_server):
    names = public_server.allowed_hosts
    assert socket.gethostname().lower() in names and "labels.example" in names and "127.0.0.1" in names


def test_idle_connections_time_out_and_excess_ones_are_closed(batch, monkeypatch):
    monkeypatch.setattr(label_server, "TIMEOUT", 2)
    monkeypatch.setattr(label_server, "MAX_CONNECTIONS", 1)
    srv = start(label_server.make_server(batch, "127.0.0.1", 0))
    try:
        idle = socket.create_connection(("127.0.0.1", srv.server_address[1]), timeout=10)
        extra = socket.create_connection(("127.0.0.1", srv.server_address[1]), timeout=5)  # accepted after idle
        assert extra.recv(100) == b""  # over the cap: closed at once, without an answer
        started = time.perf_counter()
        assert idle.recv(100) == b""  # silent for TIMEOUT: closed
        assert time.perf_counter() - started < 8
        time.sleep(0.3)  # the handler thread frees its slot just after closing the socket
        assert call(srv, "GET", "/api/state")[0] == 200  # the slot is free again
    finally:
        srv.shutdown()
        srv.server_close()

"""pretrain stage: text cut into blocks, with the tokens left out (each batch's last partial block) counted."""

import json

from builders import TINY_GPT, instructions
from conftest import write_jsonl

import hfpipeline


def test_tokens_read_and_left_out_are_counted(decoder, tmp_path, capsys):
    from transformers import AutoTokenizer

    texts = [r["prompt"] + r["completion"] for r in instructions(40)]
    data = write_jsonl(tmp_path / "c.jsonl", [{"text": t} for t in texts])
    stage = {
        "name": "lm",
        "kind": "pretrain",
        "model": {**TINY_GPT},
        "tokenizer": str(decoder / "tok"),
        "block_size": 16,
        "data": str(data),
        "train": {"max_steps": 1},
    }
    hfpipeline.run({"name": "p", "seed": 0, "output_dir": str(tmp_path / "run"), "stages": [stage]})
    metrics = json.loads((tmp_path / "run/lm/metrics.json").read_text())
    tok = AutoTokenizer.from_pretrained(decoder / "tok")
    total = sum(len(tok(t)["input_ids"]) + 1 for t in texts)  # + the eos between documents
    assert metrics["tokens_in"] + metrics["validation_tokens_in"] == total
    assert (
        0 < metrics["tokens_dropped"] < 16
        and metrics["train_blocks"] * 16 == metrics["tokens_in"] - metrics["tokens_dropped"]
    )
    assert f"train: {metrics['tokens_dropped']} of {metrics['tokens_in']} tokens left out" in capsys.readouterr().err

"""sft stage: loss on completions falls, prompt tokens are masked, packing, conversational data with a chat template,
LoRA adapters that reload merged, and `hfpipeline export`."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from builders import TINY_GPT, TOPICS, instructions, prompt, stage_and_ctx
from conftest import write_jsonl

import hfpipeline
from hfpipeline import card, models
from hfpipeline.cli import main
from hfpipeline.errors import UserError
from hfpipeline.stages import shared


def test_sft_loss_on_completions_falls(decoder):
    metrics = json.loads((decoder / "sft/metrics.json").read_text())
    assert metrics["loss_last"] < metrics["loss_first"] - 0.5
    assert metrics["eval_loss"] < metrics["eval_loss_before"] - 0.5  # on the 5% held out of the data
    summary = {s["stage"]: s for s in json.loads((decoder / "run.json").read_text())["summary"]}
    assert summary["sft"]["metric"] == "eval_loss" and summary["sft"]["value"] == metrics["eval_loss"]
    assert (decoder / "sft/model.safetensors").is_file() and not (decoder / "sft/checkpoints").exists()
    assert card.read(decoder / "sft")["prompt_format"] == "text"


def test_padding_free_batches_give_the_padded_loss(decoder, tmp_path):
    """padding_free (with max_length: null, as TRL wants) flattens a batch into one row; the model's mask built from
    position_ids keeps rows apart on our default attention, so the loss is the padded batch's to float precision."""
    from hfpipeline.stages import sft

    rows = instructions(12)
    rows[1]["completion"] += " And then some more words, to make this row far longer than the others."
    trainers = {}
    for free in (False, True):
        train = {"eval_strategy": "no", "padding_free": free, **({"max_length": None} if free else {})}
        stage, ctx = stage_and_ctx(
            tmp_path / str(free),
            {
                "name": "sft",
                "kind": "sft",
                "model": str(decoder / "sft"),
                "train": train,
                "data": str(write_jsonl(tmp_path / "d.jsonl", rows)),
            },
        )
        trainers[free] = sft.build_trainer(stage, ctx)[0]
    examples = [trainers[False].train_dataset[i] for i in range(4)]
    padded, flat = (trainers[free].data_collator(examples) for free in (False, True))
    assert flat["input_ids"].shape[0] == 1 and "attention_mask" not in flat  # one row, no padding
    model = trainers[False].model.eval()
    with torch.no_grad():
        losses = [model(**batch).loss.item() for batch in (padded, flat)]
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)


def test_wrapped_packing_is_said_on_the_terminal(decoder, tmp_path, capsys):
    from hfpipeline.stages import sft

    train = {"eval_strategy": "no", "packing": True, "packing_strategy": "wrapped", "max_length": 64}
    stage, ctx = stage_and_ctx(
        tmp_path,
        {
            "name": "sft",
            "kind": "sft",
            "model": str(decoder / "sft"),
            "train": train,
            "data": str(write_jsonl(tmp_path / "d.jsonl", instructions(12))),
        },
    )
    sft.build_trainer(stage, ctx)
    assert "packing_strategy: wrapped lets the rows in a block attend to each other" in capsys.readouterr().err


def test_prompt_tokens_are_masked_in_collated_labels(decoder, tmp_path):
    from hfpipeline.stages import sft

    rows = instructions(12)
    stage, ctx = stage_and_ctx(
        tmp_path,
        {
            "name": "sft",
            "kind": "sft",
            "model": str(decoder / "sft"),
            "data": str(write_jsonl(tmp_path / "d.jsonl", rows)),
            "train": {"eval_strategy": "no"},
        },
    )
    trainer, evaluating, conversational, _ = sft.build_trainer(stage, ctx)
    assert not evaluating and not conversational and len(trainer.train_dataset) == 12  # nothing held out
    tokenizer = trainer.processing_class
    examples = [trainer.train_dataset[i] for i in range(4)]
    batch = trainer.data_collator(examples)
    for row, ids, labels in zip(rows, batch["input_ids"], batch["labels"]):
        n_prompt = len(tokenizer(row["prompt"])["input_ids"])
        n_total = len(tokenizer(row["prompt"] + row["completion"] + tokenizer.eos_token)["input_ids"])
        assert (labels[:n_prompt] == -100).all()
        assert torch.equal(labels[n_prompt:n_total], ids[n_prompt:n_total])  # completion + eos are learned
        assert (labels[n_total:] == -100).all()  # padding is not
        assert ids[n_total - 1] == tokenizer.eos_token_id


def test_packing_runs(decoder, tmp_path):
    from hfpipeline.stages import sft

    rows = instructions(48)
    stage, ctx = stage_and_ctx(
        tmp_path,
        {
            "name": "sft",
            "kind": "sft",
            "model": str(decoder / "sft"),
            "data": str(write_jsonl(tmp_path / "d.jsonl", rows)),
            "train": {
                "packing": True,
                "max_length": 96,
                "max_steps": 4,
                "per_device_train_batch_size": 2,
                "learning_rate": 1e-3,
                "logging_steps": 1,
                "eval_strategy": "no",
            },
        },
    )
    trainer, _, _, _ = sft.build_trainer(stage, ctx)
    packed = trainer.train_dataset
    lengths = [len(ids) for ids in packed["input_ids"]]
    assert len(packed) < len(rows) / 2 and max(lengths) <= 96  # several examples per packed row
    assert sum(len(s) for s in packed["seq_lengths"]) == len(rows)  # every example kept, boundaries known
    assert -100 in packed[0]["labels"]  # prompts stay masked inside packs
    metrics = sft.run(stage, ctx)
    losses = [
        h["loss"] for h in json.loads((ctx.stage_dir / "trainer_state.json").read_text())["log_history"] if "loss" in h
    ]
    assert len(losses) == 4 and all(0 < x < 20 for x in losses) and metrics["loss_last"] == losses[-1]


def messages(n: int = 24) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "user", "content": prompt(i)[6:-11]},
                {"role": "assistant", "content": f"Sure! {TOPICS[i % len(TOPICS)][1]}"},
            ]
        }
        for i in range(n)
    ]


def test_messages_dataset_gets_a_chat_template_and_assistant_only_loss(decoder, tmp_path):
    from hfpipeline.generation import format_prompt
    from hfpipeline.stages import sft

    stage, ctx = stage_and_ctx(
        tmp_path,
        {
            "name": "chat",
            "kind": "sft",
            "model": str(decoder / "sft"),
            "data": str(write_jsonl(tmp_path / "m.jsonl", messages())),
            "train": {"max_steps": 3, "learning_rate": 1e-3},
        },
    )
    trainer, evaluating, conversational, _ = sft.build_trainer(stage, ctx)
    tokenizer = trainer.processing_class
    assert conversational and evaluating and tokenizer.chat_template == shared.DEFAULT_CHAT_TEMPLATE
    assert trainer.args.assistant_only_loss
    # the template renders the demo text format, so chat models and prompt/completion models read prompts alike
    assert format_prompt(tokenizer, "How do I cook rice?", chat=True) == "User: How do I cook rice?\nAssistant:"
    example = trainer.train_dataset[0]
    batch = trainer.data_collator([example])
    learned = tokenizer.decode([t for t in batch["labels"][0].tolist() if t != -100])
    assert learned.startswith(" Sure!") and learned.endswith(tokenizer.eos_token) and "User:" not in learned
    metrics = sft.run(stage, ctx)
    assert metrics["eval_loss"] < metrics["eval_loss_before"]  # it learned the chat layout
    assert (ctx.stage_dir / "chat_template.jinja").is_file()
    assert card.read(ctx.stage_dir)["prompt_format"] == "chat"


def test_recipe_chat_template_replaces_the_tokenizer_one():
    from hfpipeline.stages.shared import DEFAULT_CHAT_TEMPLATE, set_chat_template

    tok = SimpleNamespace(chat_template=None)
    set_chat_template(tok, None, conversational=False)
    assert tok.chat_template is None  # plain text data: no template needed
    set_chat_template(tok, None, conversational=True)
    assert tok.chat_template == DEFAULT_CHAT_TEMPLATE
    set_chat_template(tok, "{{ messages }}", conversational=True)
    assert tok.chat_template == "{{ messages }}"


def test_lora_adapters_reload_merged_and_export(decoder, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    run_dir = tmp_path / "run"
    data = str(write_jsonl(tmp_path / "d.jsonl", instructions(32)))
    train = {"max_steps": 4, "learning_rate": 1e-2, "per_device_train_batch_size": 8, "eval_strategy": "no"}
    hfpipeline.run(
        {
            "name": "lora",
            "seed": 0,
            "output_dir": str(run_dir),
            "stages": [
                {
                    "name": "lora1",
                    "kind": "sft",
                    "model": str(decoder / "sft"),
                    "data": data,
                    "peft": {"r": 4, "lora_alpha": 8},
                    "train": train,
                },
                {
                    "name": "lora2",
                    "kind": "sft",
                    "model": "lora1",
                    "data": data,
                    "peft": {"r": 4, "lora_alpha": 8},
                    "train": train,
                },
            ],
        }
    )
    for name in ("lora1", "lora2"):
        assert (run_dir / name / "adapter_model.safetensors").is_file()
        assert not (run_dir / name / "model.safetensors").exists()
    # adapters on adapters: lora2's base is lora1's folder (merged on load), not lora1's own base
    base = json.loads((run_dir / "lora2/adapter_config.json").read_text())["base_model_name_or_path"]
    assert Path(base) == (run_dir / "lora1").resolve()
    sft_model = models.load_model(AutoModelForCausalLM, str(decoder / "sft"))
    lora1 = models.load_model(AutoModelForCausalLM, str(run_dir / "lora1"))
    lora2 = models.load_model(AutoModelForCausalLM, str(run_dir / "lora2"))
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    logits = [m.eval()(ids).logits for m in (sft_model, lora1, lora2)]
    assert not torch.allclose(logits[0], logits[1]) and not torch.allclose(logits[1], logits[2])
    # export merges into a plain checkpoint that loads without peft and computes the same
    out = tmp_path / "exported"
    assert main(["export", str(run_dir / "lora2"), str(out)]) == 0
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    assert (out / "tokenizer.json").is_file() and card.read(out)["exported_from"]
    plain = AutoModelForCausalLM.from_pretrained(out).eval()
    assert torch.allclose(plain(ids).logits, logits[2], atol=1e-5)
    # a full model is copied; a non-empty OUT is refused with one line and exit code 2
    assert main(["export", str(decoder / "sft"), str(tmp_path / "copy")]) == 0
    assert (tmp_path / "copy/model.safetensors").read_bytes() == (decoder / "sft/model.safetensors").read_bytes()
    assert not (tmp_path / "copy/metrics.json").exists()
    capsys.readouterr()
    assert main(["export", str(run_dir / "lora1"), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"{out}: exists and is not empty. Export into a new or empty folder"
    assert main(["export", str(tmp_path), str(tmp_path / "new")]) == 2
    assert "holds no model" in capsys.readouterr().err


def test_lora_on_a_from_config_model_is_refused(tmp_path):

    stage, ctx = stage_and_ctx(
        tmp_path,
        {
            "name": "sft",
            "kind": "sft",
            "model": TINY_GPT,
            "tokenizer": "gpt2",
            "data": str(write_jsonl(tmp_path / "d.jsonl", instructions(4))),
            "peft": {"r": 4},
        },
    )
    with pytest.raises(UserError, match="from_config"):
        shared.add_lora(object(), stage, ctx)


def test_prompt_and_completion_that_run_together_get_the_separator_or_a_count(decoder, tmp_path, capsys):
    from hfpipeline.stages import sft

    rows = [{"prompt": f"Question {i}: what is {i} plus {i}?", "completion": f"It is {2 * i}."} for i in range(40)]
    rows[0]["completion"] = " It is 0."  # already separated: left alone
    data = {"path": str(write_jsonl(tmp_path / "qa.jsonl", rows)), "validation_size": 4}
    stage, ctx = stage_and_ctx(tmp_path, {"name": "s", "kind": "sft", "model": str(decoder / "sft"), "data": data})
    sft.load_data(stage, ctx)
    assert "join prompt and completion with no space between them" in capsys.readouterr().err
    stage, ctx = stage_and_ctx(
        tmp_path, {"name": "s", "kind": "sft", "model": str(decoder / "sft"), "data": data, "separator": "\n"}
    )
    splits = sft.load_data(stage, ctx)
    together = [r["prompt"] + r["completion"] for split in splits.values() for r in split]
    assert (
        "Question 1: what is 1 plus 1?\nIt is 2." in together and "Question 0: what is 0 plus 0? It is 0." in together
    )
    assert "join prompt and completion" not in capsys.readouterr().err


def long_rows(n: int = 30) -> list[dict]:
    """Prompt/completion rows, a third with prompts past the tiny model's 128-token window, a third whose completion
    runs past it."""
    words = "please tell me about the garden and the weather today "
    rows = []
    for i in range(n):
        prompt = f"User: {words * (30 if i % 3 == 0 else 1)}\nAssistant:"
        completion = f" Sure! {words * (20 if i % 3 == 1 else 1)}"
        rows.append({"prompt": prompt, "completion": completion})
    return rows


@pytest.mark.parametrize("policy", ["truncate", "drop", "error"])
def test_over_long_rows_follow_the_policy_and_are_counted(decoder, tmp_path, capsys, policy):
    from hfpipeline.stages import sft

    rows = long_rows()
    stage, ctx = stage_and_ctx(
        tmp_path,
        {
            "name": "s",
            "kind": "sft",
            "model": str(decoder / "sft"),
            "data": str(write_jsonl(tmp_path / "long.jsonl", rows)),
            "long_rows": policy,
            "train": {"eval_strategy": "no"},
        },
    )
    if policy == "error":
        with pytest.raises(UserError, match=r"rows are longer than max_length 128 tokens"):
            sft.build_trainer(stage, ctx)
        return
    trainer, _, _, figures = sft.build_trainer(stage, ctx)
    tok = trainer.processing_class
    prompt_only = [len(tok(r["prompt"])["input_ids"]) for r in rows]
    total = [len(tok(r["prompt"] + r["completion"])["input_ids"]) + 1 for r in rows]
    over = sum(t > 128 for t in total)
    assert over == 20 and figures["rows_in"] == 30 and len(trainer.train_dataset) == 30 - figures["rows_dropped"]
    if policy == "drop":
        assert (figures["rows_dropped"], figures["rows_truncated"]) == (over, 0)
    else:  # TRL drops the rows whose prompt alone fills max_length (nothing left to learn), truncates the rest
        assert figures["rows_dropped"] == sum(p >= 128 for p in prompt_only) == 10
        assert figures["rows_truncated"] == over - 10
        assert 0 < figures["target_tokens_kept"] < 1
        assert "20 of 30 rows longer than max_length 128 tokens: 10 truncated, 10 dropped" in capsys.readouterr().err

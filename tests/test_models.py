"""Tiny models from a config, real loading from a save_pretrained folder, LoRA, and `inspect`."""

from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoModelForSequenceClassification

from hfpipeline import card, models
from hfpipeline.cli import main
from hfpipeline.commands.inspect import inspect_model
from hfpipeline.stages.tokenizer import BUILDERS, SPECIALS


def make_tokenizer(kind="bpe"):
    from transformers import PreTrainedTokenizerFast

    tok = BUILDERS[kind]([f"word{i} and more words here" for i in range(100)], 120, 1, False)
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=64, **SPECIALS[kind])


def ctx_for(tmp_path):
    return SimpleNamespace(ref=lambda r: r.get("dir") or r.get("hub"))


@pytest.mark.parametrize(
    "model_type,cls,kind",
    [
        ("gpt2", AutoModelForCausalLM, "bpe"),
        ("llama", AutoModelForCausalLM, "bpe"),
        ("bert", AutoModelForSequenceClassification, "wordpiece"),
        ("t5", AutoModelForSeq2SeqLM, "unigram"),
    ],
)
def test_tiny_model_from_config(model_type, cls, kind, tmp_path):
    tok = make_tokenizer(kind)
    sizes = {
        "gpt2": dict(n_layer=2, n_embd=32, n_head=2),
        "llama": dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64),
        "bert": dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64),
        "t5": dict(num_layers=2, d_model=32, d_ff=64, num_heads=2, d_kv=16),
    }[model_type]
    model = models.build_model(cls, {"config": {"model_type": model_type, **sizes}}, ctx_for(tmp_path), tok)
    assert model.config.vocab_size == len(tok) and model.config.pad_token_id == tok.pad_token_id
    assert sum(p.numel() for p in model.parameters()) < 200_000
    # real loading: save_pretrained, then load by folder as a recipe's model: would
    models.save(model, tok, tmp_path / "saved")
    assert (tmp_path / "saved/model.safetensors").is_file() and not list(tmp_path.glob("saved/*.bin"))
    again = models.build_model(cls, {"dir": str(tmp_path / "saved")}, ctx_for(tmp_path), tok)
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name
    assert card.read(tmp_path / "saved")["tokenizer_fingerprint"] == card.tokenizer_fingerprint(tok)


def test_lora_trains_only_adapters_and_reloads_merged(tmp_path):
    tok = make_tokenizer()
    model = models.build_model(
        AutoModelForCausalLM,
        {"config": {"model_type": "gpt2", "n_layer": 2, "n_embd": 32, "n_head": 2}},
        ctx_for(tmp_path),
        tok,
    )
    base_dir = tmp_path / "base"
    models.save(model, tok, base_dir)
    model = models.load_model(AutoModelForCausalLM, str(base_dir))
    lora = models.add_lora(model, {"r": 4, "lora_alpha": 8}, "CAUSAL_LM")
    trainable = sum(p.numel() for p in lora.parameters() if p.requires_grad)
    assert 0 < trainable < sum(p.numel() for p in lora.parameters()) / 2
    with torch.no_grad():
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.fill_(0.01)  # make the adapters change the output
    lora.save_pretrained(tmp_path / "adapters")
    merged = models.load_model(AutoModelForCausalLM, str(tmp_path / "adapters"))
    x = torch.tensor([[1, 2, 3]])
    assert torch.allclose(merged(x).logits, lora(x).logits, atol=1e-5)
    info = inspect_model(str(tmp_path / "adapters"))
    assert info["trainable_parameters"] == trainable


def test_inspect_counts_match_the_model(tmp_path, capsys):
    tok = make_tokenizer()
    model = models.build_model(
        AutoModelForCausalLM,
        {"config": {"model_type": "gpt2", "n_layer": 2, "n_embd": 32, "n_head": 2, "n_positions": 96}},
        ctx_for(tmp_path),
        tok,
    )
    models.save(model, tok, tmp_path / "m")
    info = inspect_model(str(tmp_path / "m"), text="word1 and more")
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
    assert info["context_window"] == 96 and info["family"] == "decoder" and info["vocab_size"] == len(tok)
    assert info["text_tokens"] == len(tok("word1 and more")["input_ids"])
    assert main(["inspect", str(tmp_path / "m"), "--text", "word1"]) == 0
    assert "context_window" in capsys.readouterr().out
    assert main(["inspect", str(tmp_path / "nothing-here")]) == 2


def test_merged_lora_names_its_own_folder_as_base(tmp_path):
    tok = make_tokenizer()
    model = models.build_model(
        AutoModelForCausalLM,
        {"config": {"model_type": "gpt2", "n_layer": 1, "n_embd": 16, "n_head": 2}},
        ctx_for(tmp_path),
        tok,
    )
    models.save(model, tok, tmp_path / "base")
    lora = models.add_lora(models.load_model(AutoModelForCausalLM, str(tmp_path / "base")), {"r": 2}, "CAUSAL_LM")
    lora.save_pretrained(tmp_path / "first")
    merged = models.load_model(AutoModelForCausalLM, str(tmp_path / "first"))
    second = models.add_lora(merged, {"r": 2}, "CAUSAL_LM")
    assert second.peft_config["default"].base_model_name_or_path == str(tmp_path / "first")


def test_manifests_are_world_readable(tmp_path):
    from hfpipeline.files import write_json

    write_json(tmp_path / "m.json", {"a": 1})
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o644


def family_tokenizer(kind: str):
    """A tokenizer of our tokenizer stage's `kind` (bpe, wordpiece, unigram), trained on a few sentences."""
    from transformers import PreTrainedTokenizerFast

    from hfpipeline.stages import tokenizer as tok_stage

    texts = [f"the cat number {i} sat on the mat and looked at dog {i % 7}" for i in range(200)]
    built = tok_stage.BUILDERS[kind](texts, 300, 1, kind == "wordpiece")
    return PreTrainedTokenizerFast(tokenizer_object=built, **tok_stage.SPECIALS[kind])


@pytest.mark.parametrize(
    "model_type, kind",
    [
        ("gpt2", "bpe"),
        ("llama", "bpe"),
        ("qwen2", "bpe"),
        ("bert", "wordpiece"),
        ("roberta", "wordpiece"),
        ("distilbert", "wordpiece"),
        ("t5", "unigram"),
        ("bart", "unigram"),
    ],
)
def test_tiny_config_token_ids_are_the_tokenizers(model_type, kind):
    """Every special id of a from_config model (config and generation config) is one of the tokenizer's special
    tokens in its role: BART's forced eos is our eos, not its default id 2 (<unk> in our unigram vocabulary)."""
    from transformers import AutoConfig, GenerationConfig

    tok = family_tokenizer(kind)
    config = AutoConfig.for_model(model_type, **models._token_ids(model_type, tok))
    generation = GenerationConfig.from_model_config(config)
    assert config.vocab_size == len(tok) and config.pad_token_id == tok.pad_token_id
    assert config.eos_token_id == (tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id)
    for source in (config.to_dict(), generation.to_dict()):
        for key, value in source.items():
            if key.endswith("_token_id") and value is not None:
                assert value in tok.all_special_ids, f"{key}={value} is not a special token of the tokenizer"
    if config.is_encoder_decoder:
        assert config.decoder_start_token_id in (tok.pad_token_id, tok.eos_token_id)
    if model_type == "bart":
        assert config.forced_eos_token_id == tok.eos_token_id and config.decoder_start_token_id == tok.eos_token_id

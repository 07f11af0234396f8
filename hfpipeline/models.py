"""Models and tokenizers: from a Hub id, a local folder, an earlier stage, or tiny from a config; LoRA; saving."""

import hashlib
import json
from pathlib import Path

from hfpipeline.errors import UserError
from hfpipeline.files import write_json

HANDOFF = "hfpipeline.json"   # what a stage's output is, checked by the stages that load it


def load_tokenizer(path: str, trust_remote_code: bool = False):
    """A tokenizer from a folder or Hub id, with a pad token."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except OSError as e:
        raise UserError(f"tokenizer {path}: cannot be loaded ({str(e).splitlines()[0]})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def stage_tokenizer(stage, ctx, model_key: str = "model"):
    """The stage's tokenizer: its `tokenizer:` ref, else the one saved with its model."""
    ref = stage.refs.get("tokenizer") or stage.refs.get(model_key)
    if ref is None or "config" in ref:
        raise UserError(f"stage {stage.name}: a model built from_config needs tokenizer: (a tokenizer stage, folder or Hub id)")
    return load_tokenizer(ctx.ref(ref), trust_remote_code=ref.get("trust_remote_code", False))


def build_model(auto_cls, ref: dict, ctx, tokenizer, **kwargs):
    """`auto_cls` (e.g. AutoModelForCausalLM) from a tiny config, a folder, an earlier stage or a Hub id."""
    if "config" in ref:
        from transformers import AutoConfig

        cfg = dict(ref["config"])
        config = AutoConfig.for_model(cfg.pop("model_type"), **_token_ids(tokenizer), **cfg, **kwargs)
        return auto_cls.from_config(config)
    return load_model(auto_cls, ctx.ref(ref), trust_remote_code=ref.get("trust_remote_code", False),
                      revision=ref.get("revision"), **kwargs)


def load_model(auto_cls, path: str, trust_remote_code: bool = False, revision: str | None = None, **kwargs):
    """Load weights; a folder of LoRA adapters is merged into its base model first."""
    if (Path(path) / "adapter_config.json").is_file():
        from peft import PeftConfig, PeftModel

        base = PeftConfig.from_pretrained(path).base_model_name_or_path
        model = load_model(auto_cls, base, trust_remote_code, **kwargs)
        merged = PeftModel.from_pretrained(model, path).merge_and_unload()
        merged.name_or_path = merged.config._name_or_path = path   # adapters stacked on top must name this folder as base
        return merged
    try:
        return auto_cls.from_pretrained(path, trust_remote_code=trust_remote_code, revision=revision, **kwargs)
    except OSError as e:
        raise UserError(f"model {path}: cannot be loaded ({str(e).splitlines()[0]})") from None


def _token_ids(tokenizer) -> dict:
    ids = {"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id}
    for name in ("bos", "eos"):
        if getattr(tokenizer, f"{name}_token_id", None) is not None:
            ids[f"{name}_token_id"] = getattr(tokenizer, f"{name}_token_id")
    if getattr(tokenizer, "mask_token_id", None) is None and tokenizer.pad_token_id is not None:
        ids.setdefault("decoder_start_token_id", tokenizer.pad_token_id)
    return ids


def add_lora(model, peft: dict | None, task_type: str):
    """Wrap `model` with LoRA adapters when the stage has a peft: block."""
    if not peft:
        return model
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(**{"task_type": task_type, "target_modules": "all-linear", **peft})
    model = get_peft_model(model, config)
    model.print_trainable_parameters()
    return model


def tokenizer_fingerprint(tokenizer) -> str:
    """Hash of the vocabulary and special tokens: equal fingerprints tokenize text the same way."""
    vocab = sorted(tokenizer.get_vocab().items())
    special = sorted((k, str(v)) for k, v in tokenizer.special_tokens_map.items())
    return hashlib.sha256(json.dumps([vocab, special]).encode()).hexdigest()[:16]


def describe(model, tokenizer) -> dict:
    """What a stage's output is: model type, head, tokenizer fingerprint, chat template."""
    config = getattr(model, "config", None)
    template = getattr(tokenizer, "chat_template", None)
    # the class itself: a LoRA reward model's config still names the causal LM its body was loaded from
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    info = {
        "model_type": getattr(config, "model_type", None),
        "architectures": [type(base).__name__],
        "vocab_size": len(tokenizer),
        "tokenizer_fingerprint": tokenizer_fingerprint(tokenizer),
        "chat_template_sha": hashlib.sha256(template.encode()).hexdigest()[:16] if template else None,
        "padding_side": tokenizer.padding_side,
    }
    if config is not None and getattr(config, "num_labels", None) is not None:
        info["num_labels"] = config.num_labels
    info["head"] = output_head(model)
    return info


def output_head(model) -> dict | None:
    """Name and weight shape of the output layer, e.g. {"name": "score", "shape": [1, 64]} for a reward model."""
    for name in ("score", "classifier", "classification_head", "lm_head"):
        layer = getattr(model, name, None)
        weight = getattr(layer, "weight", None)
        if weight is None:
            weight = getattr(getattr(layer, "out_proj", None), "weight", None)
        if weight is not None:
            return {"name": name, "shape": list(weight.shape)}
    return None


def save(model, tokenizer, out_dir: Path, **extra) -> None:
    """Save model (safetensors) and tokenizer, plus the hand-off description."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    write_handoff(out_dir, model, tokenizer, **extra)


def write_handoff(out_dir: Path, model, tokenizer, **extra) -> None:
    """Write hfpipeline.json: what this output is, for the stages that load it."""
    write_json(out_dir / HANDOFF, {**describe(model, tokenizer), **extra})


def read_handoff(path: str | Path) -> dict | None:
    """The hand-off description saved with a stage's output, if any."""
    file = Path(path) / HANDOFF
    return json.loads(file.read_text()) if file.is_file() else None

"""Models and tokenizers: from a Hub id, a local folder, an earlier stage, or tiny from a config; LoRA; saving."""

from pathlib import Path

from hfpipeline import card
from hfpipeline.errors import UserError


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
        raise UserError(
            f"stage {stage.name}: a model built from_config needs tokenizer: (a tokenizer stage, folder or Hub id)"
        )
    return load_tokenizer(ctx.ref(ref), trust_remote_code=ref.get("trust_remote_code", False))


def build_model(auto_cls, ref: dict, ctx, tokenizer, **kwargs):
    """`auto_cls` (e.g. AutoModelForCausalLM) from a tiny config, a folder, an earlier stage or a Hub id."""
    if "config" in ref:
        from transformers import AutoConfig

        cfg = dict(ref["config"])
        model_type = cfg.pop("model_type")
        config = AutoConfig.for_model(model_type, **_token_ids(model_type, tokenizer), **cfg, **kwargs)
        return auto_cls.from_config(config)
    return load_model(
        auto_cls,
        ctx.ref(ref),
        trust_remote_code=ref.get("trust_remote_code", False),
        revision=ref.get("revision"),
        **kwargs,
    )


def load_model(auto_cls, path: str, trust_remote_code: bool = False, revision: str | None = None, **kwargs):
    """Load weights; a folder of LoRA adapters is merged into its base model first."""
    if (Path(path) / "adapter_config.json").is_file():
        from peft import PeftConfig, PeftModel

        base = PeftConfig.from_pretrained(path).base_model_name_or_path
        model = load_model(auto_cls, base, trust_remote_code, **kwargs)
        merged = PeftModel.from_pretrained(model, path).merge_and_unload()
        merged.name_or_path = merged.config._name_or_path = (
            path  # adapters stacked on top must name this folder as base
        )
        return merged
    try:
        return auto_cls.from_pretrained(path, trust_remote_code=trust_remote_code, revision=revision, **kwargs)
    except OSError as e:
        raise UserError(f"model {path}: cannot be loaded ({str(e).splitlines()[0]})") from None


def _token_ids(model_type: str, tokenizer) -> dict:
    """Every special-token id of a tiny model's config from the tokenizer: its pad, bos and eos ([CLS]/[SEP] stand in
    for an encoder tokenizer's bos/eos), and the ids a family derives from them, mapped by the role they play in the
    family's defaults (BART starts decoding and forces eos with its eos; T5 starts decoding with pad)."""
    from transformers import AutoConfig

    default = AutoConfig.for_model(model_type)
    ours = {
        "pad": tokenizer.pad_token_id,
        "bos": tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.cls_token_id,
        "eos": tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id,
    }
    ids = {"vocab_size": len(tokenizer), **{f"{role}_token_id": ours[role] for role in ours}}
    for key in ("decoder_start_token_id", "forced_bos_token_id", "forced_eos_token_id"):
        value = getattr(default, key, None)
        role = next(
            (
                r
                for r in ("eos", "pad", "bos")
                if value is not None and value == getattr(default, f"{r}_token_id", None)
            ),
            None,
        )
        if role is not None:
            ids[key] = ours[role]
        elif value is not None:
            ids[key] = None  # an id of the family's own vocabulary, meaningless with ours
    if default.is_encoder_decoder and ids.get("decoder_start_token_id") is None:
        ids["decoder_start_token_id"] = ours["pad"]  # T5's convention
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


def save(model, tokenizer, out_dir: Path, **extra) -> None:
    """Save model (safetensors), tokenizer and the folder's card."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    card.write(out_dir, model, tokenizer, **extra)


def label_config(names: list[str]) -> dict:
    """Config values that give a model len(names) labels with these names."""
    return {
        "num_labels": len(names),
        "id2label": dict(enumerate(names)),
        "label2id": {n: i for i, n in enumerate(names)},
    }

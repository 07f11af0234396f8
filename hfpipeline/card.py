"""The card of a stage's output folder, `hfpipeline.json`: what the folder holds (model type and class, output head,
tokenizer fingerprint, chat template, padding side, plus what the stage adds). Written when a stage saves; read by
the hand-off checks and by every command that loads a folder. Also the context window and family of a config."""

import hashlib
import json
from pathlib import Path

from hfpipeline.errors import UserError
from hfpipeline.files import write_json

FILE = "hfpipeline.json"
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length")
HEADS = ("score", "classifier", "classification_head", "lm_head")
DECODER_TYPES = ("gpt2", "llama", "qwen2", "mistral", "gemma", "phi")


# --- writing ------------------------------------------------------------------------------------------------------


def describe(model, tokenizer) -> dict:
    """What a model + tokenizer are: model type, class, head, tokenizer fingerprint, chat template."""
    config = getattr(model, "config", None)
    template = getattr(tokenizer, "chat_template", None)
    # the class itself: a LoRA reward model's config still names the causal LM its body was loaded from
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    info = {
        "model_type": getattr(config, "model_type", None),
        "architectures": [type(base).__name__],
        "vocab_size": len(tokenizer),
        "tokenizer_fingerprint": tokenizer_fingerprint(tokenizer),
        "chat_template_sha": _sha(template),
        "padding_side": tokenizer.padding_side,
    }
    if config is not None and getattr(config, "num_labels", None) is not None:
        info["num_labels"] = config.num_labels
    info["head"] = output_head(model)
    return info


def write(out_dir: Path, model, tokenizer, **extra) -> None:
    """Write the folder's card: describe(model, tokenizer) plus what the stage adds (task, labels, ...)."""
    write_json(Path(out_dir) / FILE, {**describe(model, tokenizer), **extra})


def tokenizer_fingerprint(tokenizer) -> str:
    """Hash of the vocabulary and special tokens: equal fingerprints tokenize text the same way."""
    vocab = sorted(tokenizer.get_vocab().items())
    special = sorted((k, str(v)) for k, v in tokenizer.special_tokens_map.items())
    return hashlib.sha256(json.dumps([vocab, special]).encode()).hexdigest()[:16]


def output_head(model) -> dict | None:
    """Name and weight shape of the output layer, e.g. {"name": "score", "shape": [1, 64]} for a reward model."""
    for name in HEADS:
        layer = getattr(model, name, None)
        weight = getattr(layer, "weight", None)
        if weight is None:
            weight = getattr(getattr(layer, "out_proj", None), "weight", None)
        if weight is not None:
            return {"name": name, "shape": list(weight.shape)}
    return None


def _sha(template: str | None) -> str | None:
    return hashlib.sha256(template.encode()).hexdigest()[:16] if template else None


# --- reading ------------------------------------------------------------------------------------------------------


def read(path: str | Path) -> dict:
    """The card saved in a folder ({} when there is none)."""
    file = Path(path) / FILE
    return json.loads(file.read_text()) if file.is_file() else {}


def of_folder(path: str) -> dict:
    """A model folder's card, else one worked out from its config and tokenizer; with its context window."""
    info = read(path)
    config = config_of(path)
    if not info:
        from hfpipeline import models

        tokenizer = models.load_tokenizer(path)
        info = {
            "model_type": config.get("model_type"),
            "architectures": config.get("architectures") or [],
            "tokenizer_fingerprint": tokenizer_fingerprint(tokenizer),
            "vocab_size": len(tokenizer),
            "chat_template_sha": _sha(getattr(tokenizer, "chat_template", None)),
            "num_labels": len(config.get("id2label") or {}) or config.get("num_labels"),
        }
    return {**info, "context_window": context_window(config)}


def config_of(path: str) -> dict:
    """config.json of a folder (or of a LoRA folder's base model), else of a Hub model."""
    folder = Path(path)
    if (folder / "adapter_config.json").is_file():
        base = json.loads((folder / "adapter_config.json").read_text()).get("base_model_name_or_path")
        return config_of(base) if base else {}
    if (folder / "config.json").is_file():
        return json.loads((folder / "config.json").read_text())
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(path).to_dict()
    except OSError as e:
        raise UserError(f"model {path}: cannot read its config ({str(e).splitlines()[0]})") from None


def holds_model(folder: Path) -> bool:
    return (folder / "config.json").is_file() or (folder / "adapter_config.json").is_file()


def is_causal_lm(info: dict) -> bool:
    """True when the card (or config) names a causal-LM class."""
    return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in info.get("architectures") or [])


def is_scorer(info: dict) -> bool:
    """A sequence-classification model with one output: a reward or value model."""
    head = info.get("head") or {}
    outputs = head["shape"][0] if head.get("shape") else info.get("num_labels")
    return outputs == 1 and any(a.endswith("ForSequenceClassification") for a in info.get("architectures") or [])


# --- configs ------------------------------------------------------------------------------------------------------


def context_window(config) -> int | None:
    """The longest sequence a model takes (a config object or dict); None for relative positions (T5)."""
    values = config if isinstance(config, dict) else config.to_dict()
    return next((values[k] for k in CONTEXT_KEYS if values.get(k)), None)


def family(config: dict) -> str:
    """encoder, decoder or encoder-decoder."""
    if config.get("is_encoder_decoder"):
        return "encoder-decoder"
    archs = " ".join(config.get("architectures") or [])
    if "CausalLM" in archs or "LMHead" in archs or config.get("model_type") in DECODER_TYPES:
        return "decoder"
    return "encoder"


def check_weights(folder: str) -> str:
    """`folder` if each of its .safetensors files is whole (8-byte header length, JSON header, tensor data ending
    where the file ends); else UserError naming the file. Cheap: reads only the headers."""
    for file in sorted(Path(folder).glob("*.safetensors")) if Path(folder).is_dir() else ():
        if problem := _safetensors_problem(file):
            raise UserError(
                f"{file}: corrupt or truncated weights ({problem}). Re-run the stage that wrote it "
                "(hfpipeline run RECIPE --only STAGE --overwrite) or copy the folder again"
            )
    return folder


def _safetensors_problem(file: Path) -> str | None:
    size = file.stat().st_size
    with open(file, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return f"{size} bytes, shorter than the 8-byte header length"
        length = int.from_bytes(head, "little")
        if length > size - 8:
            return f"header of {length} bytes in a file of {size}"
        try:
            header = json.loads(f.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return "its header is not JSON"
    if not isinstance(header, dict):
        return "its header is not a JSON object"
    ends = [t.get("data_offsets", [0, 0])[1] for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)]
    expected = 8 + length + max(ends, default=0)
    return None if expected == size else f"{size} bytes where the header describes {expected}"

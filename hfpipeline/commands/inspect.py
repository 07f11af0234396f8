"""`hfpipeline inspect`: the three numbers every introduction to LLMs starts from — parameters, vocabulary and
tokens, context window — plus architecture family and dtype, for a folder, a run (dir or dir/stage) or a Hub id."""

import json
from pathlib import Path

from hfpipeline import card, rundir
from hfpipeline.errors import UserError
from hfpipeline.files import read_jsonl, read_text


def inspect_model(path: str, text: str | None = None) -> dict:
    """Parameters (total, trainable), vocabulary, context window, family, dtype and token count of `text`."""
    folder = rundir.model_folder(path, tokenizer_only=True)  # a bad path fails before transformers loads
    from transformers import AutoConfig, AutoTokenizer

    adapter = Path(folder, "adapter_config.json")
    base = json.loads(adapter.read_text())["base_model_name_or_path"] if adapter.is_file() else folder
    info = {"model": folder}
    try:
        config = AutoConfig.from_pretrained(base)
    except (OSError, ValueError):
        config = None  # a tokenizer-only folder
    if config is not None:
        total = count_parameters(config)
        trainable = _adapter_parameters(Path(folder)) if adapter.is_file() else total
        info.update(
            model_type=config.model_type,
            family=card.family(config.to_dict()),
            dtype=str(getattr(config, "dtype", None) or "float32").replace("torch.", ""),
            parameters=total + (trainable if adapter.is_file() else 0),
            trainable_parameters=trainable,
            context_window=card.context_window(config),
        )
    has_tokenizer = any(Path(folder, f).is_file() for f in ("tokenizer.json", "tokenizer_config.json"))
    tokenizer = AutoTokenizer.from_pretrained(folder if has_tokenizer or not adapter.is_file() else base)
    info["vocab_size"] = len(tokenizer)
    info["tokenizer_max_length"] = tokenizer.model_max_length if tokenizer.model_max_length < 1e9 else None
    if text is not None:
        ids = tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        info.update(text_tokens=len(ids), text_words=len(text.split()), text_chars=len(text))
    return info


def count_parameters(config) -> int:
    """Parameter count of the saved architecture, built on the meta device (no memory, no weights read)."""
    import torch
    import transformers

    arch = (config.architectures or [None])[0]
    cls = getattr(transformers, arch, None) if arch else None
    with torch.device("meta"):
        model = cls(config) if cls is not None else transformers.AutoModel.from_config(config)
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def _adapter_parameters(folder: Path) -> int:
    from safetensors import safe_open

    total = 0
    for file in folder.glob("*.safetensors"):
        with safe_open(str(file), "pt") as f:
            for key in f.keys():  # noqa: SIM118 (a safetensors file, not a dict)
                n = 1
                for d in f.get_slice(key).get_shape():
                    n *= d
                total += n
    return total


def inspect_command(args) -> int:
    text = args.text
    if args.file:
        file = Path(args.file)
        if not file.is_file():
            raise UserError(f"{args.file}: no such file")
        if file.suffix == ".jsonl":
            rows = read_jsonl(file)
            text = "\n".join(str(r.get("text", next(iter(r.values()), ""))) for r in rows)
        else:
            text = read_text(file)
    info = inspect_model(args.model, text)
    width = max(map(len, info))
    for key, value in info.items():
        shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
        print(f"{key.ljust(width)}  {shown}")
    return 0

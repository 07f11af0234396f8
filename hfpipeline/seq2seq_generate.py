"""Generation with a seq2seq model (transformers 5 has no summarization/translation pipelines): batched
`model.generate` and summaries held to a word budget. The summarize/translate commands are in
hfpipeline.commands.seq2seq."""

import math
from dataclasses import dataclass
from pathlib import Path

from hfpipeline import card, models, rundir
from hfpipeline.errors import UserError
from hfpipeline.seq2seq_scores import sentences

DEFAULT_WINDOW = 512  # encoder window when neither the model nor the tokenizer gives one
BUDGET_SLACK = 1.25  # max_new_tokens = words x tokens-per-word x this, + 2


@dataclass
class Seq2Seq:
    """A loaded seq2seq model with what the stage that trained it recorded."""

    model: object
    tokenizer: object
    prefix: str
    window: int  # max source tokens the encoder reads
    generation: object  # GenerationConfig


def encoder_window(model, tokenizer, wanted: int | None = None) -> int:
    """Source tokens to read: `wanted`, else the model's positions or the tokenizer's limit (default 512).
    Asking for more than the model has position embeddings for is an error."""
    positions = card.context_window(model.config)
    if wanted is not None:
        if positions and wanted > positions:
            raise UserError(
                f"max_source_length {wanted} exceeds the model's encoder window ({positions} positions). "
                f"Set max_source_length to {positions} or less"
            )
        return wanted
    limits = [n for n in (positions, tokenizer.model_max_length) if n and n < 1_000_000]
    return min(limits) if limits else DEFAULT_WINDOW


def as_lengths(config):
    """Express max/min_new_tokens as max/min_length (the same for an encoder-decoder: +1 start token), so that
    generate() does not warn that both are set once Seq2SeqTrainer has filled in its default max_length."""
    if config.max_new_tokens is not None:
        config.max_length, config.max_new_tokens = config.max_new_tokens + 1, None
    if config.min_new_tokens is not None:
        config.min_length, config.min_new_tokens = config.min_new_tokens + 1, None
    if config.min_length and config.max_length and config.min_length > config.max_length:
        config.min_length = config.max_length
    return config


def load(path: str, task: str) -> Seq2Seq:
    """Model (LoRA adapters merged; on the GPU if there is one), tokenizer, prefix, window and generation settings
    of a seq2seq model."""
    import torch
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, GenerationConfig

    folder = rundir.model_folder(path, kinds=("seq2seq",))
    config = None
    if (Path(folder) / "config.json").is_file() or not Path(folder).is_dir():
        try:
            config = AutoConfig.from_pretrained(folder)
        except (OSError, ValueError) as e:
            raise UserError(
                f"{path}: not a model folder or run dir, and not a loadable Hub model ({str(e).splitlines()[0]})"
            ) from None
    if config is not None and not config.is_encoder_decoder:
        raise UserError(
            f"{folder}: holds a {config.model_type} model, not an encoder-decoder. "
            f"Point at a seq2seq stage's output (T5, BART, ...)"
        )
    model = models.load_model(AutoModelForSeq2SeqLM, folder).eval()
    if torch.cuda.is_available():
        model = model.to("cuda")
    tokenizer = models.load_tokenizer(folder)
    info = card.read(folder)
    generation = (
        GenerationConfig.from_pretrained(folder)
        if (Path(folder) / "generation_config.json").is_file()
        else model.generation_config
    )
    prefix = info.get("prefix")
    if prefix is None:  # a plain checkpoint: T5's own task prefixes, if it has one for summaries
        params = getattr(model.config, "task_specific_params", None) or {}
        prefix = params.get("summarization", {}).get("prefix", "") if task == "summarize" else ""
    return Seq2Seq(
        model, tokenizer, prefix, encoder_window(model, tokenizer, info.get("max_source_length")), generation
    )


def generate(s2s: Seq2Seq, texts: list[str], batch_size: int = 16, **settings) -> list[str]:
    """Generate one output per text (prefix added, truncated to the window), in batches; `settings` override the
    model's generation config (num_beams, max_new_tokens, ...)."""
    import copy

    import torch

    config = copy.deepcopy(s2s.generation)
    config.update(**{k: v for k, v in settings.items() if v is not None})
    config = as_lengths(config)
    outputs = []
    for start in range(0, len(texts), batch_size):
        batch = [s2s.prefix + t for t in texts[start : start + batch_size]]
        enc = s2s.tokenizer(batch, truncation=True, max_length=s2s.window, padding=True, return_tensors="pt")
        enc = enc.to(s2s.model.device)
        with torch.no_grad():
            ids = s2s.model.generate(**enc, generation_config=config)
        outputs += [t.strip() for t in s2s.tokenizer.batch_decode(ids, skip_special_tokens=True)]
    return outputs


def overlong(s2s: Seq2Seq, texts: list[str]) -> list[int]:
    """Token counts of the texts (with prefix) that exceed the encoder window: their ends are not read."""
    lengths = [len(ids) for ids in s2s.tokenizer([s2s.prefix + t for t in texts])["input_ids"]]
    return [n for n in lengths if n > s2s.window]


# --- word budget -----------------------------------------------------------------------------------------------


def budget_tokens(tokenizer, text: str, max_words: int) -> int:
    """max_new_tokens for about `max_words` words, from the text's own tokens-per-word ratio."""
    words = max(len(text.split()), 1)
    per_word = len(tokenizer(text, add_special_tokens=False)["input_ids"]) / words
    return math.ceil(max_words * max(per_word, 1.0) * BUDGET_SLACK) + 2


def fit_words(text: str, max_words: int) -> str:
    """`text` cut to at most `max_words` words: at the last sentence end that keeps at least half the budget,
    else after the last whole word that fits (marked with an ellipsis)."""
    words = text.split()
    if len(words) <= max_words:
        return " ".join(words)
    kept, count = [], 0
    for sentence in sentences(text):
        n = len(sentence.split())
        if count + n > max_words:
            break
        kept.append(sentence)
        count += n
    if kept and count * 2 >= max_words:
        return " ".join(kept)
    return " ".join(words[:max_words]).rstrip(",;:-") + "…"


# --- commands --------------------------------------------------------------------------------------------------

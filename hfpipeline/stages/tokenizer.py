"""`tokenizer` stage: train a tokenizer with the `tokenizers` library and save it as a transformers fast tokenizer.

bpe: byte-level BPE for decoders (GPT-2 style); wordpiece: for encoders (BERT style, [CLS] x [SEP]);
unigram: for encoder-decoders (T5 style, x </s>, pad id 0). The same data, settings and seed give a byte-identical
tokenizer.json: the trainers iterate hash maps, so tied tokens are put in a canonical order after training.
"""

import json
import sys

from hfpipeline import data
from hfpipeline.kinds import KINDS

SPECIALS = {
    "bpe": {
        "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|pad|>",
    },
    "wordpiece": {
        "unk_token": "[UNK]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "mask_token": "[MASK]",
    },
    "unigram": {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"},
}


def run(stage, ctx) -> dict:
    # data
    train = data.load_splits(stage.data, ctx.recipe.seed)["train"]
    if note := held_out_note(stage, ctx.recipe):
        print(note, file=sys.stderr)
    columns = stage.data["text_field"] if isinstance(stage.data["text_field"], list) else ["text"]
    texts = [t for column in columns for t in train[column]]
    # train
    kind = stage.options.get("type", "bpe")
    opts = stage.options
    tok = BUILDERS[kind](
        texts, opts.get("vocab_size", 8000), opts.get("min_frequency", 2), opts.get("lowercase", kind == "wordpiece")
    )
    # save
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=opts.get("model_max_length", 512), **SPECIALS[kind]
    )
    ctx.stage_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(ctx.stage_dir)
    words = sum(len(t.split()) for t in texts)
    tokens = sum(len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"])
    return {
        "vocab_size": len(tokenizer),
        "type": kind,
        "texts": len(texts),
        "tokens_per_word": round(tokens / max(words, 1), 3),
    }


def _specials(kind: str) -> list[str]:
    return list(dict.fromkeys(SPECIALS[kind].values()))


def _bpe(texts, vocab_size, min_frequency, lowercase):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    if lowercase:
        tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=_specials("bpe"),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def _wordpiece(texts, vocab_size, min_frequency, lowercase):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    # the trainer numbers "##x" pieces in hash-map order, and merge ties are broken by those numbers: give them
    # fixed numbers up front as placeholders after the special tokens (canonical() turns them back into plain pieces)
    pieces = sorted(
        {
            "##" + c
            for text in texts
            for word, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(text))
            for c in word[1:]
        }
    )
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=_specials("wordpiece") + pieces
    )
    tok.train_from_iterator(texts, trainer)
    tok = canonical(tok, keep_added=len(_specials("wordpiece")))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tok


def _unigram(texts, vocab_size, min_frequency, lowercase):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.Unigram())
    steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=_specials("unigram"), unk_token="<unk>")
    tok.train_from_iterator(texts, trainer)
    tok = canonical(tok)
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))]
    )
    return tok


def canonical(tok, keep_added: int | None = None):
    """The trained tokenizer with its vocabulary in an order that does not depend on hash-map iteration
    (huggingface/tokenizers#1794): special tokens first, as given; then WordPiece tokens sorted by text (greedy
    longest-match ignores ids), Unigram pieces by score, then text. Added tokens past `keep_added` become plain
    pieces. Unigram scores are rounded to 9 decimals (their sums differ in the last bits) and the characters it adds
    with made-up, evenly spaced scores get theirs by text."""
    from tokenizers import Tokenizer

    spec = json.loads(tok.to_str())
    spec["added_tokens"] = spec["added_tokens"][:keep_added]
    model = spec["model"]
    specials = {t["content"] for t in spec["added_tokens"]}
    if model["type"] == "WordPiece":
        ordered = sorted(model["vocab"].items(), key=lambda kv: kv[1])
        head = [t for t, _ in ordered if t in specials]
        model["vocab"] = {t: i for i, t in enumerate(head + sorted(t for t, _ in ordered if t not in specials))}
    elif model["type"] == "Unigram":
        pieces = _even_tail_by_text([list(p) for p in model["vocab"]])
        head = [p for p in pieces if p[0] in specials]
        rest = sorted(([t, round(s, 9)] for t, s in pieces if t not in specials), key=lambda p: (-p[1], p[0]))
        model["vocab"] = head + rest
        model["unk_id"] = [p[0] for p in head + rest].index(pieces[model["unk_id"]][0])
    return Tokenizer.from_str(json.dumps(spec))


def _even_tail_by_text(pieces: list[list]) -> list[list]:
    """Unigram's trainer adds the required characters it pruned with scores min, min - 1e-4, min - 2e-4, ... in
    hash-map order; hand those scores out in the characters' text order instead."""
    chars = sorted((p for p in pieces if len(p[0]) == 1), key=lambda p: p[1])  # lowest score first
    run = 1
    while run < len(chars) and abs(chars[run][1] - chars[run - 1][1] - 1e-4) < 1e-7:
        run += 1
    if run < 2:
        return pieces
    scores = {p[0]: s for p, s in zip(sorted(chars[:run]), sorted((p[1] for p in chars[:run]), reverse=True))}
    return [[t, scores.get(t, s)] for t, s in pieces]


BUILDERS = {"bpe": _bpe, "wordpiece": _wordpiece, "unigram": _unigram}


def held_out_note(stage, recipe) -> str | None:
    """Say so when a later stage holds rows of this same data out for evaluation: the vocabulary has seen them."""
    later = recipe.stages[[s.name for s in recipe.stages].index(stage.name) + 1 :]
    for other in later:
        block = other.data or {}
        if (
            block.get("path") == stage.data.get("path")
            and block.get("hub") == stage.data.get("hub")
            and (KINDS[other.kind].holdout or block.get("validation_size") or block.get("test_size"))
        ):
            return (
                f"[{stage.name}] note: learns from every row of {data.source_of(stage.data, 'train')}, including the "
                f"rows stage {other.name!r} holds out for evaluation (its figures are on text the vocabulary has "
                "seen). Give the tokenizer its own data, or the later stage a validation/test file, to keep them apart"
            )
    return None

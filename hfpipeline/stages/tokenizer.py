"""`tokenizer` stage: train a tokenizer with the `tokenizers` library and save it as a transformers fast tokenizer.

bpe: byte-level BPE for decoders (GPT-2 style); wordpiece: for encoders (BERT style, [CLS] x [SEP]);
unigram: for encoder-decoders (T5 style, x </s>, pad id 0).
"""

from hfpipeline import data

SPECIALS = {
    "bpe": {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "<|pad|>"},
    "wordpiece": {"unk_token": "[UNK]", "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"},
    "unigram": {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"},
}


def run(stage, ctx) -> dict:
    # data
    train = data.load_splits(stage.data, ctx.recipe.seed)["train"]
    columns = stage.data["text_field"] if isinstance(stage.data["text_field"], list) else ["text"]
    texts = [t for column in columns for t in train[column]]
    # train
    kind = stage.options.get("type", "bpe")
    opts = stage.options
    tok = BUILDERS[kind](texts, opts.get("vocab_size", 8000), opts.get("min_frequency", 2), opts.get("lowercase", kind == "wordpiece"))
    # save
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=opts.get("model_max_length", 512),
                                        **SPECIALS[kind])
    ctx.stage_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(ctx.stage_dir)
    words = sum(len(t.split()) for t in texts)
    tokens = sum(len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"])
    return {"vocab_size": len(tokenizer), "type": kind, "texts": len(texts), "tokens_per_word": round(tokens / max(words, 1), 3)}


def _specials(kind: str) -> list[str]:
    return list(dict.fromkeys(SPECIALS[kind].values()))


def _bpe(texts, vocab_size, min_frequency, lowercase):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    if lowercase:
        tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=_specials("bpe"),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    return tok


def _wordpiece(texts, vocab_size, min_frequency, lowercase):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=_specials("wordpiece"))
    tok.train_from_iterator(texts, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
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
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))])
    return tok


BUILDERS = {"bpe": _bpe, "wordpiece": _wordpiece, "unigram": _unigram}

"""`hfpipeline summarize` (a document to a summary, within a word budget) and `hfpipeline translate` (line by
line), with a seq2seq stage's output or any encoder-decoder folder."""

import sys

from hfpipeline import files
from hfpipeline.errors import UserError
from hfpipeline.seq2seq_generate import budget_tokens, fit_words, generate, load, overlong


def read_text(file: str | None) -> str:
    """A UTF-8 text file's content, or stdin."""
    return sys.stdin.read() if file is None else files.read_text(file)


def summarize_command(args) -> int:
    """`hfpipeline summarize MODEL_OR_RUN_DIR [FILE] [--max-words N]`: print a summary of the document."""
    document = " ".join(read_text(args.file).split())
    if not document:
        raise UserError(f"{args.file or 'stdin'}: empty document. Give a document file or pipe text in")
    if args.max_words is not None and args.max_words < 1:
        raise UserError(f"--max-words {args.max_words}: must be 1 or more")
    s2s = load(args.model, "summarize")
    if over := overlong(s2s, [document]):
        print(
            f"warning: the document has {over[0]} tokens, more than the encoder window ({s2s.window}): only the "
            f"first {s2s.window} are read",
            file=sys.stderr,
        )
    settings = {"num_beams": args.num_beams}
    if args.max_words:
        settings["max_new_tokens"] = budget_tokens(s2s.tokenizer, document, args.max_words)
    summary = generate(s2s, [document], **settings)[0]
    print(fit_words(summary, args.max_words) if args.max_words else summary)
    return 0


def translate_command(args) -> int:
    """`hfpipeline translate MODEL_OR_RUN_DIR [FILE]`: translate each line (blank lines stay blank)."""
    lines = read_text(args.file).splitlines()
    texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise UserError(
            f"{args.file or 'stdin'}: nothing to translate. Give a text file (one sentence per line) or pipe text in"
        )
    s2s = load(args.model, "translate")
    if over := overlong(s2s, texts):
        print(
            f"warning: {len(over)} of {len(texts)} lines have more tokens than the encoder window ({s2s.window}, "
            f"longest {max(over)}): only their first {s2s.window} are read",
            file=sys.stderr,
        )
    translations = iter(generate(s2s, texts, num_beams=args.num_beams))
    for line in lines:
        print(next(translations) if line.strip() else "")
    return 0

"""`hfpipeline label BATCH`: rank and tag a labelling batch's responses in a local web page (feedback.server)."""

import re
from pathlib import Path

from hfpipeline import feedback
from hfpipeline.errors import UserError
from hfpipeline.feedback.server import serve


def parse_tags(text: str | None) -> tuple[str, ...]:
    """Tag names from a comma-separated --tags value (None: the default tags)."""
    if text is None:
        return feedback.DEFAULT_TAGS
    names = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    for name in names:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise UserError(f"--tags: {name!r} is not a valid tag name. Use letters, digits, '_' or '-'")
    return names


def label_command(args) -> int:
    """CLI entry: `hfpipeline label BATCH [--host H] [--port P] [--tags a,b]`."""
    if not Path(args.batch).is_file():
        raise UserError(f"{args.batch}: no such batch file. Pass the JSONL written by `hfpipeline sample`")
    serve(
        args.batch,
        host=args.host,
        port=args.port,
        tags=parse_tags(args.tags),
        allow_hosts=getattr(args, "allow_host", ()),
    )
    return 0

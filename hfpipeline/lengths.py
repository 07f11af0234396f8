"""Over-long rows, counted: the `long_rows` policy a stage applies to rows longer than its max_length (truncate,
drop or error) and the figures it reports for each split: rows in, truncated, dropped, share of target tokens kept,
as one terminal line and as metrics."""

import sys

from hfpipeline.errors import UserError

POLICIES = ("truncate", "drop", "error")


def apply_policy(stage, split_name: str, split, lengths: list[int], limit: int, policy: str, limit_text=None):
    """`split` for the trainer: rows longer than `limit` tokens are left to truncate, dropped, or refused in one
    line (policy `error`); returns the split and how many rows were over. No limit (None, e.g. sft's
    `max_length: null`, which TRL's padding_free needs): none are over."""
    over = [] if limit is None else [i for i, n in enumerate(lengths) if n > limit]
    if over and policy == "error":
        raise UserError(
            f"stage {stage.name}: {len(over)} of {len(lengths)} {split_name} rows are longer than "
            f"{limit_text or f'max_length {limit}'} tokens (the first: row {over[0] + 1} of the split, "
            f"{lengths[over[0]]} tokens). Raise the limit, or set long_rows: drop on the stage"
        )
    if over and policy == "drop":
        gone = set(over)
        split = split.select([i for i in range(len(lengths)) if i not in gone])
    return split, len(over)


def counts(
    stage,
    split_name: str,
    rows_in: int,
    rows_out: int,
    over: int,
    policy: str,
    limit: int,
    target_total: int | None = None,
    target_kept: int | None = None,
    limit_text: str | None = None,
) -> dict:
    """The split's figures (metrics keys prefixed by the split, train unprefixed); a terminal line when rows were
    cut or dropped. Rows the trainer drops itself (e.g. nothing left to learn after truncation) count as dropped."""
    dropped = rows_in - rows_out
    truncated = max(over - dropped, 0) if policy == "truncate" else 0
    kept = round(target_kept / target_total, 4) if target_total else None
    if truncated or dropped:
        share = f"; {100 * kept:.0f}% of target tokens kept" if kept is not None else ""
        print(
            f"[{stage.name}] {split_name}: {over} of {rows_in} rows longer than {limit_text or f'max_length {limit}'} "
            "tokens: "
            f"{truncated} truncated, {dropped} dropped (long_rows: {policy}){share}",
            file=sys.stderr,
        )
    prefix = "" if split_name == "train" else f"{split_name}_"
    figures = {"rows_in": rows_in, "rows_truncated": truncated, "rows_dropped": dropped, "target_tokens_kept": kept}
    return {prefix + key: value for key, value in figures.items() if value is not None}

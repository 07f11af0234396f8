"""Human feedback data: labelling batches, saved rankings, and their expansion into preference pairs.

A batch holds K model responses per prompt; a labeller ranks them best to worst and may tag some of them.
"""

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hfpipeline.errors import UserError
from hfpipeline.files import append_jsonl, read_jsonl

DEFAULT_TAGS = ("inappropriate", "irrelevant", "inaccurate")
TAG_LABELS = {
    "inappropriate": "Inappropriate language",
    "irrelevant": "Irrelevant to the prompt",
    "inaccurate": "Factually inaccurate",
}
LABEL_KEYS = ("id", "ranking", "tags", "comment", "saved_at")


@dataclass
class Batch:
    """A loaded labelling batch: its path and items in file order."""

    path: Path
    items: list[dict]
    positions: dict[str, int] = field(init=False)

    def __post_init__(self):
        self.positions = {item["id"]: n for n, item in enumerate(self.items)}

    def item(self, item_id: str) -> dict | None:
        """The item with this id, or None."""
        n = self.positions.get(item_id)
        return None if n is None else self.items[n]


def tag_label(name: str) -> str:
    """Display label for a tag name (the name itself for custom tags)."""
    return TAG_LABELS.get(name, name.replace("_", " ").capitalize())


def labels_path_for(batch_path: str | Path) -> Path:
    """Where the labels of a batch live: batch.jsonl -> batch.labels.jsonl, beside it."""
    batch_path = Path(batch_path)
    return batch_path.with_name(batch_path.stem + ".labels.jsonl")


def _rows_with_lines(path: Path) -> list[tuple[int, dict]]:
    """JSONL rows paired with their 1-based line numbers (blank lines skipped)."""
    rows = read_jsonl(path)
    with open(path, "rb") as f:
        lines = [n for n, raw in enumerate(f, 1) if raw.strip()]
    return list(zip(lines, rows))


def _item_problem(row: dict, seen: set) -> str | None:
    """What is wrong with one batch item, or None."""
    item_id = row.get("id")
    if not isinstance(item_id, str) or not item_id:
        return f"'id' must be a non-empty string, got {item_id!r}. Give every item a unique string id"
    if item_id in seen:
        return f"duplicate id {item_id!r}. Ids must be unique within a batch"
    problem = _texts_problem(row)
    return f"item {item_id!r}: {problem}" if problem else None


def _texts_problem(row: dict) -> str | None:
    """What is wrong with a row's prompt and responses, or None."""
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return f"'prompt' must be a non-empty string, got {prompt!r}"
    responses = row.get("responses")
    if not isinstance(responses, list) or len(responses) < 2:
        return f"'responses' must be a list of at least 2 strings, got {responses!r:.80}"
    for i, text in enumerate(responses):
        if not isinstance(text, str):
            return f"responses[{i}] must be a string, got {type(text).__name__}"
    return None


def _order_problem(ranking, item_tags, k: int, tags) -> str | None:
    """What is wrong with a ranking and tags of K responses, or None; `tags` None allows any tag name."""
    if not isinstance(ranking, list) or any(type(i) is not int for i in ranking) or sorted(ranking) != list(range(k)):
        return (
            f"ranking {ranking!r} is not a permutation of 0..{k - 1}. "
            f"List every response index exactly once, best first"
        )
    if not isinstance(item_tags, dict):
        return f"'tags' must be an object of response index -> list of tags, got {item_tags!r}"
    for key, names in item_tags.items():
        if key not in {str(i) for i in range(k)}:
            return f"tags key {key!r} is not a response index 0..{k - 1}"
        if not isinstance(names, list):
            return f"tags[{key!r}] must be a list of tag names, got {names!r}"
        for name in names:
            if not isinstance(name, str) or (tags is not None and name not in tags):
                return f"tag {name!r} is not one of: {', '.join(tags)}" if tags else f"tag {name!r} is not a string"
    return None


def load_batch(path: str | Path) -> Batch:
    """Read and validate a labelling batch (JSONL of {id, prompt, responses, ...})."""
    path = Path(path)
    items, seen = [], set()
    for lineno, row in _rows_with_lines(path):
        problem = _item_problem(row, seen)
        if problem:
            raise UserError(f"{path}:{lineno}: {problem}")
        seen.add(row["id"])
        items.append(row)
    if not items:
        raise UserError(f"{path}: the batch is empty. Add one JSON object per line")
    return Batch(path, items)


def label_problem(batch: Batch, row, tags=DEFAULT_TAGS) -> str | None:
    """What is wrong with one label row for `batch`, or None if it is valid."""
    if not isinstance(row, dict):
        return f"a label must be a JSON object, got {type(row).__name__}"
    unknown = sorted(set(row) - set(LABEL_KEYS))
    if unknown:
        return f"unknown key {unknown[0]!r}. Allowed keys: {', '.join(LABEL_KEYS)}"
    item = batch.item(row.get("id")) if isinstance(row.get("id"), str) else None
    if item is None:
        return f"unknown id {row.get('id')!r}: no such item in {batch.path.name}"
    problem = _order_problem(row.get("ranking"), row.get("tags", {}), len(item["responses"]), tags)
    if problem:
        return f"item {row['id']!r}: {problem}"
    for key in ("comment", "saved_at"):
        if not isinstance(row.get(key, ""), str):
            return f"item {row['id']!r}: {key!r} must be a string, got {row[key]!r}"
    return None


def load_labels(batch: Batch, labels_path: str | Path, tags=DEFAULT_TAGS) -> dict[str, dict]:
    """Validated labels by id; a later row for an id replaces the earlier one. Missing file: no labels."""
    labels_path = Path(labels_path)
    if not labels_path.exists():
        return {}
    labels = {}
    for lineno, row in _rows_with_lines(labels_path):
        problem = label_problem(batch, row, tags)
        if problem:
            raise UserError(f"{labels_path}:{lineno}: {problem}. Fix or delete that line")
        labels[row["id"]] = row
    return labels


def save_label(batch: Batch, labels_path: str | Path, item: dict, tags=DEFAULT_TAGS) -> dict:
    """Validate one submitted label and append it to the labels file; invalid raises UserError, file untouched."""
    problem = label_problem(batch, item, tags)
    if problem:
        raise UserError(problem)
    row = {
        "id": item["id"],
        "ranking": list(item["ranking"]),
        "tags": {key: sorted(set(names)) for key, names in sorted(item.get("tags", {}).items()) if names},
        "comment": item.get("comment", "").strip(),
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    append_jsonl(labels_path, row)
    return row


def next_unlabelled(batch: Batch, labels: dict) -> int | None:
    """Position of the first item with no saved label (where the labeller stopped), or None when done."""
    return next((n for n, item in enumerate(batch.items) if item["id"] not in labels), None)


def ranked_rows(batch: Batch, labels: dict) -> list[dict]:
    """Join labels with their items into {id, prompt, responses, ranking, tags} rows, in batch order."""
    return [
        {
            "id": item["id"],
            "prompt": item["prompt"],
            "responses": item["responses"],
            "ranking": labels[item["id"]]["ranking"],
            "tags": labels[item["id"]].get("tags", {}),
        }
        for item in batch.items
        if item["id"] in labels
    ]


def load_ranked(batch_path: str | Path, tags=None) -> list[dict]:
    """Ranked rows {id, prompt, responses, ranking, tags} of a labelled batch (batch.jsonl + batch.labels.jsonl
    beside it), unlabelled items skipped; `tags` None accepts any tag names. Bad or unlabelled files: UserError."""
    batch = load_batch(batch_path)
    labels_path = labels_path_for(batch_path)
    if not labels_path.is_file():
        raise UserError(
            f"{batch_path}: no labels yet ({labels_path.name} not found). "
            f"Label the batch first: hfpipeline label {batch_path}"
        )
    rows = ranked_rows(batch, load_labels(batch, labels_path, tags))
    if not rows:
        raise UserError(
            f"{labels_path}: no item of {batch.path.name} is labelled yet. "
            f"Label some first: hfpipeline label {batch_path}"
        )
    return rows


def ranked_row_problem(row) -> str | None:
    """What is wrong with one ranked data row {prompt, responses, ranking, tags?}, or None."""
    if not isinstance(row, dict):
        return f"a ranked row must be a JSON object, got {type(row).__name__}"
    problem = _texts_problem(row)
    if problem is None:
        tags = row.get("tags") if row.get("tags") is not None else {}
        if isinstance(tags, dict):  # null for an untagged response, as `datasets` writes a tags struct
            tags = {key: names for key, names in tags.items() if names is not None}
        problem = _order_problem(row.get("ranking"), tags, len(row["responses"]), None)
    return problem


def check_ranked_file(path: str | Path) -> int:
    """Validate a JSONL file of ranked rows line by line; return its row count. A bad line: UserError file:line."""
    path = Path(path)
    rows = _rows_with_lines(path)
    for lineno, row in rows:
        if problem := ranked_row_problem(row):
            raise UserError(f"{path}:{lineno}: {problem}")
    if not rows:
        raise UserError(f"{path}: no rows. The file is empty")
    return len(rows)


def final_order(row: dict, demote_tags=()) -> list[int]:
    """Response indices best first: the ranking, with responses tagged by any of `demote_tags` moved last."""
    ranking, k = row["ranking"], len(row["responses"])
    if sorted(ranking) != list(range(k)):
        raise UserError(f"ranking {ranking!r} is not a permutation of 0..{k - 1}")
    tags = {str(key): names for key, names in (row.get("tags") or {}).items()}
    demoted = {i for i in ranking if set(tags.get(str(i), ())) & set(demote_tags)}
    return [i for i in ranking if i not in demoted] + [i for i in ranking if i in demoted]


def rows_to_pairs(rows, demote_tags=()) -> list[dict]:
    """Expand each ranked row into its K*(K-1)/2 {prompt, chosen, rejected} pairs (InstructGPT)."""
    pairs = []
    for row in rows:
        order = final_order(row, demote_tags)
        for better, worse in itertools.combinations(order, 2):
            pairs.append(
                {"prompt": row["prompt"], "chosen": row["responses"][better], "rejected": row["responses"][worse]}
            )
    return pairs


def pairs_dataset(ranked, demote_tags=()):
    """A datasets.Dataset of ranked rows -> a Dataset of their {prompt, chosen, rejected} pairs."""
    from datasets import Dataset

    rows = ranked.to_list()
    for row in rows:  # datasets fills tags of response indices a row does not tag with None
        row["tags"] = {k: v for k, v in (row.get("tags") or {}).items() if v}
    return Dataset.from_list(rows_to_pairs(rows, demote_tags))

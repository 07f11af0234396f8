"""Dataset loading for stages: demo:NAME, local files or folders, or the Hub -> a DatasetDict with canonical columns."""

from pathlib import Path

from hfpipeline.data_refs import resolve_path
from hfpipeline.errors import UserError
from hfpipeline.kinds import KINDS

LOADERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


def load_stage_data(stage, seed: int, evaluate: bool = True, check=None):
    """A stage's data; when evaluating, its kind's share of train (kinds.Kind.holdout) is held out for validation
    if the data has no validation split and the block names no validation_size."""
    return load_splits(stage.data, seed, holdout=KINDS[stage.kind].holdout if evaluate else None, check=check)


def load_splits(block: dict, seed: int, holdout: float | None = None, check=None):
    """Load a data block; rename mapped columns to canonical names; `check(split, dataset)` sees each split as read
    (row numbers are the file's); split off test (test_size) and validation (validation_size, else `holdout`)
    when the data has no such split."""
    from datasets import DatasetDict

    if block.get("hub"):
        dd = _load_hub(block)
    else:
        files = block["path"] if isinstance(block["path"], dict) else {"train": block["path"]}
        dd = DatasetDict({split: _load_file(resolve_path(p)) for split, p in files.items()})
    dd = DatasetDict({split: _rename(ds, block) for split, ds in dd.items()})
    for split, ds in dd.items() if check else ():
        check(split, ds)
    for split in ("test", "validation"):
        size = block.get(f"{split}_size") or (holdout if split == "validation" else None)
        if size and split not in dd:
            dd = split_off(dd, split, size, seed)
    if block.get("max_rows"):
        dd = DatasetDict({k: ds.select(range(min(block["max_rows"], len(ds)))) for k, ds in dd.items()})
    if "train" not in dd:
        raise UserError(f"data {block.get('path') or block.get('hub')}: no train split (has {', '.join(dd)})")
    return dd


def source_of(block: dict, split: str) -> str:
    """The file or dataset a split came from, for messages."""
    path = block.get("path")
    if isinstance(path, dict):
        return path.get(split) or path["train"]
    return path or block.get("hub")


def split_off(dd, split: str, size, seed: int):
    """Move `size` (fraction or count) of train into a new split, reproducibly with `seed`."""
    from datasets import DatasetDict

    parts = dd["train"].train_test_split(test_size=size, seed=seed)
    return DatasetDict({**dd, "train": parts["train"], split: parts["test"]})


def _load_file(path: Path):
    from datasets import Dataset, load_dataset, load_from_disk

    from hfpipeline import feedback

    if path.suffix == ".jsonl" and feedback.labels_path_for(path).is_file():  # a labelled batch: its ranked rows
        return Dataset.from_list(feedback.load_ranked(path))
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "state.json").exists():
            return load_from_disk(str(path))
        return load_dataset(str(path), split="train")
    return load_dataset(LOADERS[path.suffix], data_files=str(path), split="train")


def _load_hub(block: dict):
    from datasets import DatasetDict, load_dataset

    loaded = load_dataset(block["hub"], block.get("config"))
    if block.get("split") and block["split"] != "train":
        loaded = DatasetDict({**loaded, "train": loaded[block["split"]]})
    return loaded


def _rename(ds, block: dict):
    """Apply the recipe's *_field mappings: column `review` with text_field: review becomes `text`."""
    for key, column in block.items():
        if key.endswith("_field") and isinstance(column, str):
            canonical = key[: -len("_field")]
            if column != canonical and column in ds.column_names:
                if canonical in ds.column_names:
                    ds = ds.remove_columns(canonical)
                ds = ds.rename_column(column, canonical)
    return ds


def require_columns(dd, block: dict, columns: list[str], text: tuple[str, ...] = ()) -> None:
    """Every split has these (renamed) columns, the `text` ones holding strings; else one line naming the data's
    own column name and the mapping key that fixes it. (validate checks local files so; this covers Hub data.)"""
    for split, ds in dd.items():
        for column in columns:
            field = block.get(f"{column}_field") or column
            if column not in ds.column_names:
                raise UserError(
                    f"{source_of(block, split)}: {split} split has no column {field!r} (has "
                    f"{', '.join(ds.column_names)}). Map it with {column}_field: COLUMN"
                )
            dtype = getattr(ds.features[column], "dtype", None)
            if column in text and dtype not in ("string", "large_string"):
                raise UserError(
                    f"{source_of(block, split)}: column {field!r} holds {dtype or ds.features[column]} values, "
                    f"not text. Map {column}_field to a text column"
                )

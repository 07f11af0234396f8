"""`hfpipeline export RUN_DIR/STAGE OUT`: a plain checkpoint (safetensors + tokenizer) to ship or load anywhere;
LoRA adapters are merged into their base model, a full model is copied as is.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

from hfpipeline import card, console, modelcard, models
from hfpipeline.errors import UserError

# PEFT task type of saved adapters -> the transformers auto class whose head they were trained with
AUTO_CLASSES = {
    "CAUSAL_LM": "AutoModelForCausalLM",
    "SEQ_CLS": "AutoModelForSequenceClassification",
    "SEQ_2_SEQ_LM": "AutoModelForSeq2SeqLM",
    "TOKEN_CLS": "AutoModelForTokenClassification",
}
# left behind: training leftovers and logs (README.md, the model card, goes with the model)
NOT_EXPORTED = ("checkpoints", "metrics.json", "trainer_state.json", "training_args.bin", "logs", console.LOG)


def export_command(args) -> int:
    """Write the stage's model to args.out: merged when it holds adapters, copied otherwise."""
    stage_dir, out = Path(args.stage_dir), Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: exists and is not empty. Export into a new or empty folder")
    if (stage_dir / "adapter_config.json").is_file():
        how = "merged LoRA adapters into"
    elif card.holds_model(stage_dir):
        how = "copied"
    else:
        raise UserError(f"{stage_dir}: holds no model (no config.json or adapter_config.json). Give RUN_DIR/STAGE")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))  # renamed into place when complete
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; OUT gets the usual permissions
    try:
        if how == "copied":
            shutil.copytree(stage_dir, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*NOT_EXPORTED))
        else:
            merge(stage_dir, tmp)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{stage_dir}: {how} {out}", file=sys.stderr)
    return 0


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def merge(stage_dir: Path, out: Path) -> None:
    """Load base + adapters, merge them, save a full safetensors checkpoint with the stage's tokenizer."""
    import transformers
    from peft import PeftConfig

    task = PeftConfig.from_pretrained(str(stage_dir)).task_type
    if task not in AUTO_CLASSES:
        raise UserError(
            f"{stage_dir}: adapters of task type {task!r} cannot be merged here. Supported: {', '.join(AUTO_CLASSES)}"
        )
    info = card.read(stage_dir)
    extra = {"num_labels": info["num_labels"]} if task == "SEQ_CLS" and "num_labels" in info else {}
    model = models.load_model(getattr(transformers, AUTO_CLASSES[task]), str(stage_dir), **extra)
    tokenizer = models.load_tokenizer(str(stage_dir))
    keep = {k: v for k, v in info.items() if k not in card.describe(model, tokenizer)}
    models.save(model, tokenizer, out, **keep, exported_from=str(stage_dir.resolve()))
    if (stage_dir / modelcard.FILE).is_file():
        modelcard.note_merged(stage_dir / modelcard.FILE, out / modelcard.FILE, AUTO_CLASSES[task])

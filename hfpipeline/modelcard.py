"""The model card (README.md) of a stage folder: Hub metadata (huggingface_hub.ModelCardData) + what the stage is,
its base model, data, recipe block, metrics, how to load it, intended use and limits. Written once a stage's
outputs are finished; `hfpipeline export` carries it over."""

from pathlib import Path

import yaml

from hfpipeline import card, kinds, report
from hfpipeline.files import write_text_atomic

FILE = "README.md"
# what a folder holds -> (transformers auto class, Hub pipeline tag)
LOADERS = {
    kinds.CAUSAL_LM: ("AutoModelForCausalLM", "text-generation"),
    kinds.MASKED_LM: ("AutoModelForMaskedLM", "fill-mask"),
    kinds.CLASSIFIER: ("AutoModelForSequenceClassification", "text-classification"),
    kinds.SCORER: ("AutoModelForSequenceClassification", "text-classification"),
    kinds.SEQ2SEQ: ("AutoModelForSeq2SeqLM", "text2text-generation"),
}
PEFT_AUTOS = ("AutoPeftModelForCausalLM", "AutoPeftModelForSequenceClassification", "AutoPeftModelForSeq2SeqLM")
TASK_TAGS = {"summarize": "summarization", "translate": "translation"}  # a seq2seq stage's task: option
USES = {
    "tokenizer": "Tokenize text for the models trained after it; its vocabulary fits the data it learned from.",
    "pretrain": "A starting point for fine-tuning (sft, classify, ...): it predicts text like its training corpus.",
    "sft": "Follow prompts in the style of its demonstrations; the policy that reward, ppo or dpo stages start from.",
    "reward": "Score a prompt + response with one number (higher: preferred), e.g. as the reward model of PPO.",
    "dpo": "Answer prompts in the style preferred in its comparison data (tuned with DPO).",
    "ppo": "Answer prompts in ways its reward model scores higher, kept close to the SFT policy (tuned with PPO).",
    "classify": "Label texts with the labels it was trained on.",
    "seq2seq": "Turn a source text into a target text (summary or translation) like its training pairs.",
    "sample": "A labelling batch: K responses per prompt for `hfpipeline label`; not a model.",
}
LIMITS = (
    "Trained by an hfpipeline recipe; the demo recipes train tiny models on small demo datasets, which "
    "show that the chain works, not a usable model. Its metrics come only from the held-out share "
    "of the data above. It was not evaluated for bias, safety or factual accuracy: do so before any real use."
)


def write(stage, recipe, stage_dir: Path, metrics: dict) -> Path:
    """Write STAGE_DIR/README.md for a finished stage; return its path."""
    text = render(stage, recipe, Path(stage_dir), metrics)
    path = Path(stage_dir) / FILE
    write_text_atomic(path, text)
    return path


def render(stage, recipe, stage_dir: Path, metrics: dict) -> str:
    """The card's text: YAML metadata block, then markdown."""
    from huggingface_hub import ModelCard, ModelCardData

    product = kinds.output_of(stage.kind, stage.options)
    auto_class, pipeline_tag = LOADERS.get(product, (None, None))
    base = stage.refs.get("model") or stage.refs.get("policy")
    hub_data = stage.data.get("hub") if stage.data else None
    data = ModelCardData(
        library_name="transformers" if auto_class else None,
        pipeline_tag=TASK_TAGS.get(stage.options.get("task"), pipeline_tag) if auto_class else None,
        base_model=base.get("hub") if base else None,  # Hub metadata only holds Hub ids
        datasets=[hub_data] if hub_data else None,
        tags=["hfpipeline", stage.kind] + (["peft", "lora"] if stage.peft else []),
        model_name=f"{recipe.name}/{stage.name}",
    )
    block = next((s for s in recipe.raw.get("stages", []) if isinstance(s, dict) and s.get("name") == stage.name), {})
    inputs = [*(f"- {key}: {_ref(ref)}" for key, ref in stage.each_ref() if ref), f"- data: {_data(stage.data)}"]
    sections = [
        f"# {recipe.name} / {stage.name}",
        f"A **{stage.kind}** stage of the hfpipeline recipe `{recipe.name}` ({_what(product, stage)}).",
        "## Base model and data",
        "\n".join(inputs),
        "## Recipe block",
        "```yaml\n" + yaml.safe_dump(block, sort_keys=False).rstrip() + "\n```",
        "## Metrics",
        report.metrics_table(metrics) or "none recorded",
        "## How to load it",
        "```python\n" + _snippet(product, stage_dir) + "\n```",
        "## Intended use and limits",
        USES.get(stage.kind, "") + "\n\n" + LIMITS,
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(sections) + "\n").content


def _what(product: str, stage) -> str:
    task = stage.options.get("task")
    return f"{product}, task {task}" if task else product


def _ref(ref: dict) -> str:
    if "stage" in ref:
        return f"stage `{ref['stage']}` of this run (../{ref['stage']})"
    if "config" in ref:
        config = dict(ref["config"])
        return f"a new {config.pop('model_type')} model from a config ({config}), random weights"
    return f"`{ref.get('dir') or ref.get('hub')}`"


def _data(block: dict | None) -> str:
    if not block:
        return "none"
    source = block.get("hub") or block.get("path")
    extra = {k: v for k, v in block.items() if k in ("config", "split", "max_rows") and v is not None}
    return f"`{source}`" + (f" {extra}" if extra else "")


def _snippet(product: str, stage_dir: Path) -> str:
    """Loading code with the auto class of what the folder holds (peft's AutoPeft* class for LoRA adapters)."""
    path = str(stage_dir)
    if product == kinds.TOKENIZER:
        return f'from transformers import AutoTokenizer\n\ntokenizer = AutoTokenizer.from_pretrained("{path}")'
    if product not in LOADERS:
        return f'from datasets import load_dataset\n\nbatch = load_dataset("json", data_files="{path}/batch.jsonl")'
    auto = LOADERS[product][0]
    tokenizer = f'tokenizer = AutoTokenizer.from_pretrained("{path}")'
    if (stage_dir / "adapter_config.json").is_file():  # LoRA adapters: peft loads the base model and applies them
        peft_auto = auto.replace("AutoModel", "AutoPeftModel")
        peft_auto = peft_auto if peft_auto in PEFT_AUTOS else "AutoPeftModel"
        return (
            f"from peft import {peft_auto}\nfrom transformers import AutoTokenizer\n\n"
            f'model = {peft_auto}.from_pretrained("{path}")\n{tokenizer}'
        )
    note = "  # hfpipeline.json beside it records the head, labels, prompt format" if card.read(stage_dir) else ""
    return (
        f'from transformers import {auto}, AutoTokenizer\n\nmodel = {auto}.from_pretrained("{path}"){note}\n{tokenizer}'
    )


def note_merged(card_file: Path, out: Path, auto_class: str) -> None:
    """Copy a LoRA stage's card to its merged export, saying how the merged checkpoint loads."""
    text = Path(card_file).read_text(encoding="utf-8")
    note = (
        f"## Exported\n\nThis folder holds the LoRA adapters merged into the base model (`hfpipeline export`): "
        f"load it with `{auto_class}.from_pretrained(FOLDER)`, no peft needed.\n"
    )
    write_text_atomic(out, text.rstrip() + "\n\n" + note)

"""Text from causal LMs: load one for generation, batched sampling or greedy decoding, and K distinct responses per
prompt for a labelling batch. The `generate` and `sample` commands are in hfpipeline.commands.generate."""

from collections import namedtuple
from pathlib import Path

from hfpipeline import card, models, rundir
from hfpipeline.errors import UserError
from hfpipeline.kinds import CAUSAL_LM, producing

BATCH = 16  # prompts per model.generate call
RESAMPLE_TRIES = 3  # extra rounds for prompts whose K responses came out with duplicates

Loaded = namedtuple("Loaded", "model tokenizer source chat")  # chat: wrap prompts in the model's chat template


def load_for_generation(path: str) -> Loaded:
    """A causal LM + left-padding tokenizer from a model folder, RUN_DIR/STAGE, a run dir (its last causal LM
    stage that is done) or a Hub id."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    folder = Path(rundir.model_folder(path, kinds=producing(CAUSAL_LM), accept=holds_causal_lm))
    info = card.read(folder)
    archs = info.get("architectures") or []
    if archs and not card.is_causal_lm(info):
        raise UserError(
            f"{folder}: holds a {', '.join(archs)}, not a causal language model. Give a pretrain, sft, "
            "dpo, ppo, rloo or grpo stage"
        )
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar between the user and the completions
    try:
        model = models.load_model(AutoModelForCausalLM, str(folder)).eval()
    except ValueError as e:  # transformers: the config is not a causal LM's
        raise UserError(f"{folder}: not a causal language model ({str(e).splitlines()[0][:120]})") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if torch.cuda.is_available():
        model.to("cuda")
    tokenizer = models.load_tokenizer(str(folder))
    tokenizer.padding_side = "left"  # generation continues each prompt from its last token
    tokenizer.truncation_side = "left"  # over-long prompts keep their end
    chat = info.get("prompt_format", "chat" if tokenizer.chat_template else "text") == "chat"
    return Loaded(model, tokenizer, str(folder), chat)


def holds_causal_lm(folder: Path) -> bool:
    """True unless the folder's card names an architecture that is not a causal LM."""
    info = card.read(folder)
    return not info.get("architectures") or card.is_causal_lm(info)


def generate(
    model,
    tokenizer,
    prompts: list[str],
    max_new_tokens: int = 64,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    num_return_sequences: int = 1,
    seed: int = 0,
    chat: bool = False,
    progress: bool = False,
) -> list[list[str]]:
    """num_return_sequences completions per prompt (temperature 0: greedy), batched with left padding."""
    import torch
    from tqdm.auto import tqdm
    from transformers import set_seed

    check_sampling(temperature, num_return_sequences)
    limit = card.context_window(model.config) or 1_000_000
    if max_new_tokens >= limit:
        raise UserError(f"max_new_tokens {max_new_tokens} leaves no room for the prompt in a {limit}-token context")
    set_seed(seed)
    sampling = (
        {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": top_k}
        if temperature > 0
        else {"do_sample": False}
    )
    texts = [format_prompt(tokenizer, p, chat) for p in prompts]
    out = []
    for start in tqdm(range(0, len(texts), BATCH), desc="generating", unit="batch", disable=not progress):
        batch = tokenizer(
            texts[start : start + BATCH],
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=limit - max_new_tokens,
            add_special_tokens=not chat,
        ).to(model.device)
        with torch.no_grad():
            ids = model.generate(
                **batch,
                **sampling,
                max_new_tokens=max_new_tokens,
                num_return_sequences=num_return_sequences,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        decoded = tokenizer.batch_decode(ids[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        out += [decoded[i : i + num_return_sequences] for i in range(0, len(decoded), num_return_sequences)]
    return out


def check_sampling(temperature: float, k: int) -> None:
    """Several responses per prompt need sampling: greedy decoding gives K copies of one."""
    if temperature <= 0 and k > 1:
        raise UserError(f"{k} responses per prompt need sampling: set a temperature above 0")


def format_prompt(tokenizer, prompt: str, chat: bool) -> str:
    """The prompt as the model saw prompts in training: raw text, or a user turn in its chat template."""
    if not chat:
        return prompt
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )


def sample_responses(
    model,
    tokenizer,
    prompts: list[str],
    k: int,
    seed: int = 0,
    source: str | None = None,
    chat: bool = False,
    **sampling,
) -> list[dict]:
    """Labelling-batch rows {id, prompt, responses, model, sampling}: K responses per prompt, distinct where the
    model allows (prompts with duplicates are resampled a few times with other seeds)."""
    found = [
        list(dict.fromkeys(r))
        for r in generate(
            model,
            tokenizer,
            prompts,
            num_return_sequences=k,
            seed=seed,
            chat=chat,
            progress=len(prompts) > BATCH,
            **sampling,
        )
    ]
    for attempt in range(1, RESAMPLE_TRIES + 1):
        short = [i for i, r in enumerate(found) if len(r) < k]
        if not short:
            break
        more = generate(
            model,
            tokenizer,
            [prompts[i] for i in short],
            num_return_sequences=k,
            seed=seed + attempt,
            chat=chat,
            **sampling,
        )
        for i, extra in zip(short, more):
            found[i] = list(dict.fromkeys(found[i] + extra))[:k]
    shown = [format_prompt(tokenizer, p, chat) for p in prompts]  # what the model continued: pairs train on it
    settings = {"k": k, "seed": seed, **sampling}
    source = source or model.name_or_path
    return [
        {"id": f"{n:05d}", "prompt": prompt, "responses": (r + r * k)[:k], "model": source, "sampling": settings}
        for n, (prompt, r) in enumerate(zip(shown, found), 1)
    ]

"""`hfpipeline generate` (complete prompts with a causal LM) and `hfpipeline sample` (K responses per prompt into a
labelling batch for `hfpipeline label`)."""

import json
import sys
from pathlib import Path

from hfpipeline import feedback
from hfpipeline.errors import UserError
from hfpipeline.files import iter_jsonl, read_text, write_text_atomic
from hfpipeline.generation import check_sampling, generate, load_for_generation, sample_responses


def generate_command(args) -> int:
    """`hfpipeline generate MODEL "prompt" ...`: print completions (prompt from stdin when none is given)."""
    prompts = args.prompts or [sys.stdin.read().rstrip("\n")]
    if not any(p.strip() for p in prompts):
        raise UserError("no prompt: give prompts as arguments or on stdin")
    check_sampling(args.temperature, args.num_return_sequences)
    loaded = load_for_generation(args.model)
    outputs = generate(
        loaded.model,
        loaded.tokenizer,
        prompts,
        chat=loaded.chat,
        num_return_sequences=args.num_return_sequences,
        **sampling_args(args),
    )
    many = len(prompts) > 1 or args.num_return_sequences > 1
    for i, completions in enumerate(outputs, 1):
        for j, text in enumerate(completions, 1):
            if many:
                print(f"--- prompt {i}" + (f", sample {j}" if len(completions) > 1 else "") + " ---")
            print(text.strip())
    return 0


def sample_command(args) -> int:
    """`hfpipeline sample MODEL --prompts FILE -k 4 -o batch.jsonl`: write a labelling batch."""
    if args.k < 2:
        raise UserError(f"-k {args.k}: a labelling batch needs at least 2 responses per prompt to rank")
    out = Path(args.output)
    if feedback.labels_path_for(out).exists():
        raise UserError(
            f"{out}: has labels beside it ({feedback.labels_path_for(out).name}); a new batch would "
            "orphan them. Write to another file with -o"
        )
    prompts = read_prompts(args.prompts)
    check_sampling(args.temperature, args.k)
    loaded = load_for_generation(args.model)
    rows = sample_responses(
        loaded.model, loaded.tokenizer, prompts, args.k, source=loaded.source, chat=loaded.chat, **sampling_args(args)
    )
    write_text_atomic(out, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    repeats = sum(len(set(r["responses"])) < args.k for r in rows)
    note = f" ({repeats} with repeated responses: the model gave fewer than {args.k} distinct)" if repeats else ""
    print(
        f"wrote {len(rows)} prompts x {args.k} responses to {out}{note}. Next: hfpipeline label {out}", file=sys.stderr
    )
    return 0


def sampling_args(args) -> dict:
    """The sampling options shared by generate and sample."""
    return {
        "max_new_tokens": args.max_new_tokens,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "top_k": args.top_k,
        "seed": args.seed,
    }


def read_prompts(path: str) -> list[str]:
    """Prompts from a JSONL file with a prompt column, or a text file with one prompt per line."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"{file}: no such file")
    if file.suffix in (".jsonl", ".json"):
        rows = list(iter_jsonl(file))
        for line, row in rows:
            if not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
                raise UserError(f'{file}:{line}: no \'prompt\' text. Each line needs {{"prompt": "..."}}')
        prompts = [row["prompt"] for _, row in rows]
    else:
        prompts = [line for line in read_text(file).splitlines() if line.strip()]
    if not prompts:
        raise UserError(f"{file}: no prompts in it")
    return prompts

"""The `hfpipeline` command line: an explicit table of commands, each importing its heavy libraries only when run."""

import argparse
import importlib
import os
import sys

from hfpipeline.errors import UserError


def _run(p):
    p.add_argument("recipe", help="recipe YAML file")
    p.add_argument("overrides", nargs="*", metavar="key.path=value",
                   help="override recipe values, e.g. output_dir=runs/try2 stages.sft.train.learning_rate=1e-4")
    p.add_argument("--only", metavar="STAGE", help="run just this stage (the stages it uses must be done)")
    p.add_argument("--overwrite", action="store_true",
                   help="re-run the selected stages from scratch (all, or the --only one); never resets the whole run")
    p.add_argument("--plan", action="store_true",
                   help="print per stage keep / run / resume and why (which key or file changed); run nothing")


def _validate(p):
    p.add_argument("recipes", nargs="+", help="recipe YAML files")


def _inspect(p):
    p.add_argument("model", help="model folder, run dir, run dir/stage, or Hub id")
    p.add_argument("--text", help="count the tokens of this text")
    p.add_argument("--file", help="count the tokens of this text or JSONL file")


def _classify(p):
    p.add_argument("model", help="classifier folder, run dir or run dir/stage")
    p.add_argument("texts", nargs="*", help="texts to classify (default: lines from stdin)")
    p.add_argument("--file", help="JSONL file with a text column (or plain text, one input per line)")


def _generate(p):
    p.add_argument("model", help="model folder, run dir or run dir/stage")
    p.add_argument("prompts", nargs="*", help="prompts (default: stdin, one prompt)")
    _sampling(p)
    p.add_argument("--num-return-sequences", type=int, default=1)


def _sampling(p):
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=1.0, help="0 means greedy decoding")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)


def _summarize(p):
    p.add_argument("model", help="seq2seq model folder, run dir or run dir/stage")
    p.add_argument("file", nargs="?", help="document file (default: stdin)")
    p.add_argument("--max-words", type=int, help="the summary's word budget")
    p.add_argument("--num-beams", type=int, default=4)


def _translate(p):
    p.add_argument("model", help="seq2seq model folder, run dir or run dir/stage")
    p.add_argument("file", nargs="?", help="text file, one sentence per line (default: stdin)")
    p.add_argument("--num-beams", type=int, default=4)


def _export(p):
    p.add_argument("stage_dir", help="RUN_DIR/STAGE holding a model (LoRA adapters are merged)")
    p.add_argument("out", help="folder to write the plain checkpoint to")


def _sample(p):
    p.add_argument("model", help="policy folder, run dir or run dir/stage")
    p.add_argument("--prompts", required=True, help="JSONL file with a prompt column, or text file, one per line")
    p.add_argument("-k", type=int, default=4, help="responses per prompt")
    p.add_argument("-o", "--output", default="batch.jsonl", help="labelling batch to write")
    _sampling(p)


def _label(p):
    p.add_argument("batch", help="labelling batch JSONL written by `hfpipeline sample`")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--tags", help="comma-separated tag names (default: inappropriate,irrelevant,inaccurate)")


def _launch(p):
    p.add_argument("recipe", help="recipe YAML file")
    p.add_argument("overrides", nargs="*", metavar="key.path=value")
    p.add_argument("--accelerate-config", required=True, help="e.g. recipes/accelerate/ddp.yaml")
    p.add_argument("--num-processes", type=int)
    p.add_argument("--only", metavar="STAGE")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="print the command without running it")


# name -> (help, argument builder, "module:function" that handles it)
COMMANDS = {
    "run": ("run a recipe's stages into its run directory", _run, "hfpipeline.pipeline:run_command"),
    "validate": ("check recipes without loading any model", _validate, "hfpipeline.cli:validate_command"),
    "inspect": ("parameters, vocabulary, tokens and context window of a model", _inspect,
                "hfpipeline.commands.inspect:inspect_command"),
    "classify": ("label texts with a trained classifier", _classify, "hfpipeline.commands.classify:predict_command"),
    "generate": ("complete prompts with a causal LM", _generate, "hfpipeline.commands.generate:generate_command"),
    "summarize": ("summarise a document with a seq2seq model", _summarize, "hfpipeline.commands.seq2seq:summarize_command"),
    "translate": ("translate text with a seq2seq model", _translate, "hfpipeline.commands.seq2seq:translate_command"),
    "export": ("merge LoRA adapters into a plain checkpoint", _export, "hfpipeline.commands.export:export_command"),
    "sample": ("sample K responses per prompt into a labelling batch", _sample, "hfpipeline.commands.generate:sample_command"),
    "label": ("rank and tag sampled responses in a local web page", _label, "hfpipeline.commands.label:label_command"),
    "launch": ("run a recipe under `accelerate launch` with a launch config", _launch, "hfpipeline.commands.launch:launch_command"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hfpipeline", description="Train language models from recipe files.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def validate_command(args) -> int:
    """Validate each recipe; print OK or every problem."""
    from hfpipeline.recipe import load_recipe

    failed = False
    for path in args.recipes:
        try:
            recipe = load_recipe(path)
            print(f"{path}: OK ({len(recipe.stages)} stages: {', '.join(s.name for s in recipe.stages)})")
        except UserError as e:
            print(str(e), file=sys.stderr)
            failed = True
    return 2 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # key=value overrides given after an option (run r.yaml --overwrite a=b) land here
        if not hasattr(args, "overrides") or any(e.startswith("-") or "=" not in e for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides += extra
    module, func = COMMANDS[args.command][2].split(":")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    try:
        return getattr(importlib.import_module(module), func)(args) or 0
    except UserError as e:
        print(str(e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The `hfpipeline` command line: an explicit table of commands, each importing its heavy libraries only when run.

Exit codes: 0 done, 2 bad input (recipe, data, arguments; one line naming it), 3 the system refused (disk full,
read-only, no permission), 130 interrupted.
"""

import argparse
import errno
import importlib
import os
import sys
from pathlib import Path

from hfpipeline.errors import UserError
from hfpipeline.schema import COUNT, NONNEG, SEED, TOP_P, Range

OS_FAULTS = {
    errno.ENOSPC: "no space left on the disk",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EDQUOT: "disk quota exceeded",
}


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `hfpipeline CMD: error: ...; see hfpipeline CMD --help`, exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}. See {self.prog} --help\n")


def number(kind, allowed: Range):
    """An argparse type= that reads an int or float and checks it against a schema.Range."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if problem := allowed.problem(value):
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _run(p):
    p.add_argument("recipe", help="recipe YAML file")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="key.path=value",
        help="override recipe values, e.g. output_dir=runs/try2 stages.sft.train.learning_rate=1e-4",
    )
    p.add_argument("--only", metavar="STAGE", help="run just this stage (the stages it uses must be done)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="re-run the selected stages from scratch (all, or the --only one); never resets the whole run",
    )
    p.add_argument(
        "--plan",
        action="store_true",
        help="print per stage keep / run / resume and why (which key or file changed); run nothing",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show the libraries' own logs and warnings live (default: in RUN_DIR/STAGE/stage.log)",
    )


def _validate(p):
    p.add_argument(
        "recipes",
        nargs="+",
        metavar="RECIPE|key.path=value",
        help="recipe YAML files, then overrides as for run (applied to each recipe)",
    )


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
    p.add_argument("--num-return-sequences", type=number(int, COUNT), default=1)


def _sampling(p):
    p.add_argument("--max-new-tokens", type=number(int, COUNT), default=64)
    p.add_argument("--temperature", type=number(float, NONNEG), default=1.0, help="0 means greedy decoding")
    p.add_argument("--top-p", type=number(float, TOP_P), default=1.0)
    p.add_argument("--top-k", type=number(int, NONNEG), default=0, help="0 means no top-k filter")
    p.add_argument("--seed", type=number(int, SEED), default=0)


def _summarize(p):
    p.add_argument("model", help="seq2seq model folder, run dir or run dir/stage")
    p.add_argument("file", nargs="?", help="document file (default: stdin)")
    p.add_argument("--max-words", type=number(int, COUNT), help="the summary's word budget")
    p.add_argument("--num-beams", type=number(int, COUNT), default=4)


def _translate(p):
    p.add_argument("model", help="seq2seq model folder, run dir or run dir/stage")
    p.add_argument("file", nargs="?", help="text file, one sentence per line (default: stdin)")
    p.add_argument("--num-beams", type=number(int, COUNT), default=4)


def _export(p):
    p.add_argument("stage_dir", help="RUN_DIR/STAGE holding a model (LoRA adapters are merged)")
    p.add_argument("out", help="folder to write the plain checkpoint to")


def _sample(p):
    p.add_argument("model", help="policy folder, run dir or run dir/stage")
    p.add_argument("--prompts", required=True, help="JSONL file with a prompt column, or text file, one per line")
    p.add_argument("-k", type=number(int, Range(2)), default=4, help="responses per prompt (>= 2: they are ranked)")
    p.add_argument("-o", "--output", default="batch.jsonl", help="labelling batch to write")
    _sampling(p)


def _label(p):
    p.add_argument("batch", help="labelling batch JSONL written by `hfpipeline sample`")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; other than loopback, the URL carries "
        "a token (printed) and only this machine's names and --allow-host names are served",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a further Host name the page may be opened as (repeatable), e.g. a DNS name of this machine",
    )
    p.add_argument("--port", type=number(int, Range(0, 65535)), default=8765, help="0 picks a free port")
    p.add_argument("--tags", help="comma-separated tag names (default: inappropriate,irrelevant,inaccurate)")


def _launch(p):
    p.add_argument("recipe", help="recipe YAML file")
    p.add_argument("overrides", nargs="*", metavar="key.path=value")
    p.add_argument(
        "--accelerate-config",
        required=True,
        help="a launch config file, or a shipped preset: single_gpu, ddp, fsdp, deepspeed_zero2, ...",
    )
    p.add_argument("--num-processes", type=number(int, COUNT))
    p.add_argument("--only", metavar="STAGE")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="print the command without running it")


def _report(p):
    p.add_argument("run_dir", help="a run directory (the recipe's output_dir)")


def _schema(p):
    p.add_argument("-o", "--output", help="write the schema to this file instead of printing it")


def _none(p):
    pass


# name -> (help, argument builder, "module:function" that handles it)
COMMANDS = {
    "run": ("run a recipe's stages into its run directory", _run, "hfpipeline.pipeline:run_command"),
    "validate": ("check recipes without loading any model", _validate, "hfpipeline.cli:validate_command"),
    "inspect": (
        "parameters, vocabulary, tokens and context window of a model",
        _inspect,
        "hfpipeline.commands.inspect:inspect_command",
    ),
    "classify": ("label texts with a trained classifier", _classify, "hfpipeline.commands.classify:predict_command"),
    "generate": ("complete prompts with a causal LM", _generate, "hfpipeline.commands.generate:generate_command"),
    "summarize": (
        "summarise a document with a seq2seq model",
        _summarize,
        "hfpipeline.commands.seq2seq:summarize_command",
    ),
    "translate": ("translate text with a seq2seq model", _translate, "hfpipeline.commands.seq2seq:translate_command"),
    "export": ("merge LoRA adapters into a plain checkpoint", _export, "hfpipeline.commands.export:export_command"),
    "sample": (
        "sample K responses per prompt into a labelling batch",
        _sample,
        "hfpipeline.commands.generate:sample_command",
    ),
    "label": ("rank and tag sampled responses in a local web page", _label, "hfpipeline.commands.label:label_command"),
    "launch": (
        "run a recipe under `accelerate launch` with a launch config",
        _launch,
        "hfpipeline.commands.launch:launch_command",
    ),
    "report": (
        "write a run's report.md with plots of every stage",
        _report,
        "hfpipeline.commands.report:report_command",
    ),
    "schema": (
        "print the JSON Schema of the recipe format (for editors)",
        _schema,
        "hfpipeline.commands.schema:schema_command",
    ),
    "env": (
        "versions of Python and the HF libraries, devices, accelerate's default config",
        _none,
        "hfpipeline.commands.env:env_command",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="hfpipeline",
        description="Train language models from recipe files.",
        epilog="Exit codes: 0 done, 2 bad input, 3 disk full / read-only / no permission, 130 interrupted.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


class _Version(argparse.Action):
    """--version, looked up only when asked: importlib.metadata would cost every start tens of ms."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"hfpipeline {_version()}")
        parser.exit()


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("hfpipeline")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def validate_command(args) -> int:
    """Validate each recipe; print OK or every problem."""
    from hfpipeline.recipe import load_recipe
    from hfpipeline.runnable import coding_line_warning

    failed = False
    overrides = [a for a in args.recipes if "=" in a and not Path(a).exists()]
    recipes = [a for a in args.recipes if a not in overrides]
    if not recipes:
        raise UserError(
            "validate: no recipe file given (only overrides). Usage: hfpipeline validate RECIPE [key=value ...]"
        )
    for path in recipes:
        try:
            recipe = load_recipe(path, overrides)
            print(f"{path}: OK ({len(recipe.stages)} stages: {', '.join(s.name for s in recipe.stages)})")
            if warning := coding_line_warning(path):
                print(warning, file=sys.stderr)
        except UserError as e:
            print(str(e), file=sys.stderr)
            failed = True
    return 2 if failed else 0


def dashed(argv: list[str]) -> list[str]:
    """--max_new_tokens as --max-new-tokens: every long option accepts either spelling (values left as they are)."""
    out = []
    for arg in argv:
        if arg == "--":  # what follows is positional
            return out + argv[len(out) :]
        name, eq, value = arg.partition("=")
        out.append(name.replace("_", "-") + eq + value if arg.startswith("--") else arg)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = dashed(sys.argv[1:] if argv is None else argv)
    if not argv:  # a bare `hfpipeline`: show what there is
        parser.print_help()
        return 0
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
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
    except OSError as e:
        if e.errno not in OS_FAULTS:
            raise
        print(
            f"{e.filename or 'hfpipeline'}: cannot write: {OS_FAULTS[e.errno]}. Free space or fix permissions, "
            "then rerun (finished stages are kept)",
            file=sys.stderr,
        )
        return 3
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)  # on its own line, under any progress bar
        return 130


if __name__ == "__main__":
    sys.exit(main())

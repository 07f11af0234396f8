"""Runnable recipes: the `hfpipeline` source codec that turns a recipe file whose first line is `# coding: hfpipeline`
into a program running `hfpipeline run` on it, so `python`, `torchrun` and `accelerate launch` run a recipe directly.
The codec is registered at interpreter start by hfpipeline.pth (see setup.py); this module loads only when used."""

import codecs
import os
import re
import sys
from pathlib import Path

NAME = "hfpipeline"
CODING_LINE = f"# coding: {NAME}"
# What Python reads instead of the YAML. The leading newline: after finding the coding line, CPython's tokenizer
# re-reads the file through the codec from the end of that line and drops the first decoded line.
PROGRAM = "\nimport sys; from hfpipeline.runnable import run_file; sys.exit(run_file(__file__))\n"
# PEP 263: a comment naming the encoding, on line 1, or on line 2 below a blank or comment line (tokenize's regexes)
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.ASCII)
_BLANK = re.compile(rb"^[ \t\f]*(?:[#\r\n]|$)", re.ASCII)


def decode(data, errors: str = "strict") -> tuple[str, int]:
    """The whole file -> the program (e.g. compile() of the file's bytes, bytes.decode)."""
    return PROGRAM, len(data)


class IncrementalDecoder(codecs.BufferedIncrementalDecoder):
    """Swallows the file and answers with the program once the last byte has come (what io.open and the tokenizer
    read through). Once only: a reader at the end of the file asks again, with final set, on every read."""

    done = False

    def _buffer_decode(self, data, errors, final):
        if not final:
            return "", 0
        text, self.done = ("" if self.done else PROGRAM), True
        return text, len(data)

    def reset(self):
        super().reset()
        self.done = False


class StreamReader(codecs.StreamReader):
    """codecs.open / codecs.getreader: the program for the first chunk read, nothing after it."""

    done = False

    def decode(self, data, errors="strict"):
        text, self.done = ("" if self.done else PROGRAM), True
        return text, len(data)

    def reset(self):
        super().reset()
        self.done = False


def codec_info() -> codecs.CodecInfo:
    """Writing through the codec is plain UTF-8."""
    utf8 = codecs.lookup("utf-8")
    return codecs.CodecInfo(
        name=NAME,
        encode=utf8.encode,
        decode=decode,
        incrementalencoder=utf8.incrementalencoder,
        incrementaldecoder=IncrementalDecoder,
        streamreader=StreamReader,
        streamwriter=utf8.streamwriter,
    )


def run_file(file: str) -> int:
    """What a recipe file runs: `hfpipeline run FILE ARGS...`. The recipe is named as typed (__file__ is absolute) so
    that messages match `hfpipeline run`'s."""
    from hfpipeline.cli import main

    typed = sys.argv[0]
    recipe = typed if os.path.isfile(typed) and os.path.samefile(typed, file) else file
    return main(["run", recipe, *sys.argv[1:]])


def has_coding_line(path: str | Path) -> bool:
    """Whether Python would read the file through this codec (the declaration on line 1 or 2)."""
    with open(path, "rb") as f:
        lines = [f.readline(), f.readline()]
    for line in lines:
        match = _COOKIE.match(line)
        if match:
            return match.group(1).decode().lower() == NAME
        if not _BLANK.match(line):
            return False
    return False


def coding_line_warning(path: str | Path) -> str | None:
    """`hfpipeline validate`'s one line for a recipe that only `hfpipeline run` can run."""
    if has_coding_line(path):
        return None
    return (
        f"{path}: warning: no `{CODING_LINE}` first line, so `python {path}` and `accelerate launch {path}` "
        "cannot run it (`hfpipeline run` can)"
    )


def accelerate_launch() -> None:
    """Called by hfpipeline.pth in `accelerate launch`: a failed recipe exits with its own status (launch_failed);
    for a recipe, accelerate's warning listing the defaults it used is not shown unless the recipe gets -v."""
    hook = sys.excepthook
    sys.excepthook = lambda *exc: launch_failed(hook, *exc)
    args = sys.argv[2:]
    at = next((i for i, arg in enumerate(args) if _is_recipe(arg)), None)
    if at is not None and not {"-v", "--verbose"} & set(args[at + 1 :]):
        import logging

        logging.getLogger("accelerate.commands.launch").setLevel(logging.ERROR)


def launch_failed(hook, kind, error, traceback) -> None:
    """sys.excepthook of `accelerate launch` (set by hfpipeline.pth). When the recipe it launched failed, the recipe's
    process has said why (a UserError in one line, status 2): exit with its status, without accelerate's traceback."""
    code = getattr(error, "returncode", None)  # simple launcher: subprocess.CalledProcessError
    if hasattr(error, "get_first_failure"):  # torchrun launcher: ChildFailedError
        code = error.get_first_failure()[1].exitcode
    if isinstance(code, int) and code > 0 and any(_is_recipe(arg) for arg in sys.argv[2:]):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # an excepthook cannot set the exit status otherwise
    hook(kind, error, traceback)


def _is_recipe(arg: str) -> bool:
    return arg.endswith((".yaml", ".yml")) and os.path.isfile(arg) and has_coding_line(arg)

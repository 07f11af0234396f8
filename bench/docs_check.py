"""Run every shell and Python block of README.md and docs/*.md marked runnable, exactly as written, and check the
figures the page states; every command block is either run or excused (docs/architecture.md, "The docs check").

Marking (HTML comments right above a fence, invisible on GitHub):
  <!-- runnable -->                                     run the block (bash, or python for a ```python block)
  <!-- check: runs/c/classify/metrics.json accuracy 0.95..0.99 -->   after it ran: a JSON value lies in the range
  <!-- not runnable: needs the Hub -->                  excused, with the reason
A ```bash/sh/shell/console/python block without a mark, or a plain ``` block that starts with a command, is an
error of the page. Blocks of one page run in order in one fresh copy of the repository, each in a fresh
`bash -c` that first does the `source`/`export` lines of README's set-up block (`source .venv/bin/activate`,
.venv: a link to --venv), with HF_HUB_OFFLINE=1.
Output shown in a block is not compared; the checks are what is verified.

Run: python bench/docs_check.py [--pages README.md docs/x.md] [--list] [--venv .venv] [--env KEY=VALUE ...]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMAND_LANGS = {"bash", "sh", "shell", "console", "python"}
# a plain ``` block whose first line starts with one of these is a command block missing its language
COMMAND_WORDS = {"hfpipeline", "accelerate", "torchrun", "python", "python3", "pip", "mkdir", "cp", "cat", "echo"}
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
MARK = re.compile(r"^\s*<!--\s*(runnable|not runnable:.*?|check:.*?)\s*-->\s*$")
CHECK = re.compile(r"^check:\s*(\S+)\s+(\S+)\s+(-?[\d.]+)\.\.(-?[\d.]+)$")
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Check:
    """A JSON value (dotted key, list indices as numbers) that must lie in [low, high] after the block ran."""

    file: str
    key: str
    low: float
    high: float


@dataclass
class Block:
    page: str
    line: int
    lang: str
    text: str
    status: str = "unmarked"  # runnable | excused | unmarked | plain (not a command block)
    reason: str = ""
    checks: list[Check] = field(default_factory=list)


def parse(page: Path) -> tuple[list[Block], list[str]]:
    """The fenced blocks of a page with their marks, and the problems of the marking (page:line: what to fix)."""
    lines, blocks, problems = page.read_text().splitlines(), [], []
    name = _name(page)
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang, end = m.group(1), m.group(2), i + 1
        while end < len(lines) and not re.match(rf"^{indent}```\s*$", lines[end]):
            end += 1
        body = "\n".join(line[len(indent) :] for line in lines[i + 1 : end])
        block = Block(name, i + 1, lang, body)
        problems += _read_marks(block, _marks_above(lines, i))
        blocks.append(block)
        i = end + 1
    return blocks, problems


def _marks_above(lines: list[str], fence: int) -> list[str]:
    """The comment lines (blank lines allowed between) directly above a fence, top to bottom."""
    marks, j = [], fence - 1
    while j >= 0 and (not lines[j].strip() or MARK.match(lines[j]) or lines[j].strip().startswith("<!-- check")):
        if lines[j].strip():
            marks.insert(0, lines[j].strip())
        j -= 1
    return marks


def _read_marks(block: Block, marks: list[str]) -> list[str]:
    """Fill the block's status and checks from its marks; return what is wrong with them."""
    where, problems = f"{block.page}:{block.line}", []
    first = block.text.lstrip().split(maxsplit=1)[0] if block.text.strip() else ""
    is_command = block.lang in COMMAND_LANGS
    if not block.lang and first in COMMAND_WORDS:
        problems.append(f"{where}: a plain ``` block that starts with `{first}`: label it ```bash and mark it")
    for mark in marks:
        text = mark.removeprefix("<!--").removesuffix("-->").strip()
        if text == "runnable":
            block.status = "runnable"
        elif text.startswith("not runnable:") and text.removeprefix("not runnable:").strip():
            block.status, block.reason = "excused", text.removeprefix("not runnable:").strip()
        elif m := CHECK.match(text):
            block.checks.append(Check(m.group(1), m.group(2), float(m.group(3)), float(m.group(4))))
        else:
            problems.append(
                f"{where}: malformed mark {mark!r}: use <!-- check: FILE KEY LOW..HIGH -->, "
                "<!-- runnable --> or <!-- not runnable: REASON -->"
            )
    if block.status == "unmarked" and not is_command and not marks:
        block.status = "plain"
    elif block.status == "unmarked":
        problems.append(f"{where}: ```{block.lang} block without <!-- runnable --> or <!-- not runnable: REASON -->")
    if block.checks and block.status != "runnable":
        problems.append(f"{where}: checks on a block that does not run")
    if block.status == "runnable" and block.lang not in COMMAND_LANGS:
        problems.append(f"{where}: a runnable block must be ```bash or ```python, not ```{block.lang}")
    return problems


def _name(page: Path) -> str:
    try:
        return str(page.resolve().relative_to(REPO))
    except ValueError:
        return str(page)


def default_pages() -> list[Path]:
    """README.md and docs/*.md."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def setup_lines() -> list[str]:
    """What README's set-up block leaves in the user's shell: its `source` and `export` lines."""
    first = next(b for b in parse(REPO / "README.md")[0] if b.lang == "bash")
    return [line for line in first.text.splitlines() if re.match(r"(source|export)\s", line)]


def script(block: Block) -> str:
    """The bash program that runs a block after README's set-up."""
    head = "\n".join([*setup_lines(), "set -eo pipefail", ""])
    if block.lang == "python":
        return f"{head}python - <<'DOCS_CHECK_EOF'\n{block.text}\nDOCS_CHECK_EOF\n"
    return head + block.text + "\n"


def fresh_copy(dest: Path, venv: Path) -> None:
    """The repository's files (tracked and untracked, not ignored) copied to dest, with .venv linking to venv."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, names):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / ".venv").symlink_to(venv.resolve())


def value(data, key: str):
    """data[key] for a dotted key; numbers index lists."""
    for part in key.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def run_checks(block: Block, cwd: Path) -> list[str]:
    """One line per check: ok or FAIL with the value found."""
    out = []
    for c in block.checks:
        try:
            found = value(json.loads((cwd / c.file).read_text()), c.key)
            ok = c.low <= float(found) <= c.high
        except (OSError, ValueError, KeyError, IndexError, TypeError) as err:
            found, ok = f"unreadable ({err})", False
        out.append(f"    {'ok  ' if ok else 'FAIL'} {c.file} {c.key} = {found} (expected {c.low:g}..{c.high:g})")
    return out


def run_page(page: Path, blocks: list[Block], root: Path, venv: Path, env: dict, timeout: float) -> bool:
    """Run a page's runnable blocks in order in one fresh copy; print each block's time and checks."""
    cwd = root / page.stem
    cwd.mkdir(parents=True)
    fresh_copy(cwd, venv)
    ok = True
    for n, block in enumerate(b for b in blocks if b.status == "runnable"):
        log = root / f"{cwd.name}-{n}-line{block.line}.log"
        start = time.perf_counter()
        with log.open("w") as f:
            try:
                rc = subprocess.run(
                    ["bash", "-c", script(block)], cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT, timeout=timeout
                ).returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
        checks = run_checks(block, cwd) if rc == 0 else []
        good = rc == 0 and not any("FAIL" in line for line in checks)
        seconds = time.perf_counter() - start
        failed = "" if rc == 0 else f", exit {rc}; log {log}"
        print(f"{'ok  ' if good else 'FAIL'} {block.page}:{block.line} ({block.lang}) {seconds:.0f} s{failed}")
        for line in checks if rc == 0 else ["", *log.read_text().splitlines()[-15:]]:
            print(line if rc == 0 else f"    | {line}")
        ok = ok and good
        if rc != 0:
            break  # later blocks of the page build on this one; a figure out of range stops nothing
    return ok


def clean_env(extra: list[str]) -> dict:
    """A fresh shell's environment: system PATH, HOME, HF_HUB_OFFLINE=1, plus --env KEY=VALUE."""
    env = {"PATH": CLEAN_PATH, "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8", "HF_HUB_OFFLINE": "1"}
    env.update({k: os.environ[k] for k in ("XDG_CACHE_HOME", "TMPDIR") if k in os.environ})
    env.update(item.split("=", 1) for item in extra)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", nargs="+", type=Path, help="pages to check (default README.md docs/*.md)")
    parser.add_argument("--list", action="store_true", help="list the blocks and their status; run nothing")
    parser.add_argument("--venv", type=Path, default=REPO / ".venv", help="the README set-up's environment")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra environment")
    parser.add_argument("--workdir", type=Path, help="where the page copies go (default: a new temp folder)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per block")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens under CI
    pages = args.pages or default_pages()
    parsed = {page: parse(page) for page in pages}
    problems = [p for _, probs in parsed.values() for p in probs]
    if args.list or problems:
        for blocks, _ in parsed.values():
            for b in blocks:
                if b.status != "plain":
                    extra = b.reason or "; ".join(f"{c.file} {c.key} {c.low:g}..{c.high:g}" for c in b.checks)
                    print(f"{b.page}:{b.line} ```{b.lang} {b.status}" + (f": {extra}" if extra else ""))
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    if not (args.venv / "bin/activate").is_file():
        print(f"{args.venv}: no virtual environment; set it up as README.md says or pass --venv", file=sys.stderr)
        return 2
    root = args.workdir or Path(tempfile.mkdtemp(prefix="docs-check-"))
    print(f"docs check in {root}")
    start, env = time.perf_counter(), clean_env(args.env)
    results = [run_page(page, blocks, root, args.venv, env, args.timeout) for page, (blocks, _) in parsed.items()]
    print(f"docs check: {sum(results)} of {len(results)} pages passed in {time.perf_counter() - start:.0f} s")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""What the installed hfpipeline.pth adds to every interpreter start (goal: well under 1 ms; it imports nothing).

Run: python bench/codec_startup.py [--repeat 20]
"""

import argparse
import json
import site
import statistics
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path

# in an interpreter started without site (-S): what site does with the file, timed alone
ADD_PTH = """
import json, site, sys, time
before = set(sys.modules)
start = time.perf_counter()
site.addpackage({folder!r}, {name!r}, set())
print(json.dumps([time.perf_counter() - start, sorted(set(sys.modules) - before)]))
"""


def installed_pth() -> Path:
    for folder in site.getsitepackages():
        if Path(folder, "hfpipeline.pth").is_file():
            return Path(folder, "hfpipeline.pth")
    sys.exit("hfpipeline.pth is not in this environment's site-packages: pip install -e . (or the wheel) first")


def add_pth_seconds(pth: Path, repeat: int) -> tuple[float, set]:
    """Median seconds site takes to read and run `pth` in a fresh interpreter, and the modules that imported."""
    code = ADD_PTH.format(folder=str(pth.parent), name=pth.name)
    seconds, imported = [], set()
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-S", "-c", code], check=True, capture_output=True, text=True).stdout
        took, modules = json.loads(out)
        seconds.append(took)
        imported |= set(modules)
    return statistics.median(seconds), imported


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    pth = installed_pth()
    with tempfile.TemporaryDirectory() as tmp:  # a .pth doing nothing, for what site costs per file anyway
        Path(tmp, "nothing.pth").write_text("import sys\n")
        seconds, imported = add_pth_seconds(pth, args.repeat)
        baseline, _ = add_pth_seconds(Path(tmp, "nothing.pth"), args.repeat)
    line = compile(pth.read_text(), str(pth), "exec")
    loops = 10000
    exec_only = timeit.timeit(lambda: exec(line, {}), number=loops) / loops
    blank = [
        timeit.timeit(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), number=1)
        for _ in range(args.repeat)
    ]
    print(f"{pth}")
    print(
        f"site reading and running it, fresh interpreter: median {seconds * 1e6:.0f} us over {args.repeat} runs "
        f"(a .pth doing nothing: {baseline * 1e6:.0f} us); modules it imported: {sorted(imported) or 'none'}"
    )
    print(f"running its line alone: {exec_only * 1e6:.1f} us (mean of {loops})")
    print(f"for scale, `python -c pass`: median {statistics.median(blank) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()

"""How long `hfpipeline validate` takes on a ~100 MB JSONL file (every row is checked): an sft recipe whose data is
a generated chat file. Usage: python bench/validate_big.py [--mb 100] [--kind messages|text]"""

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ["the", "a", "model", "learns", "from", "data", "every", "row", "is", "checked", "when", "validating", "text"]


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def write_data(path: Path, mb: int, kind: str) -> int:
    """Write about `mb` megabytes of rows; return the row count."""
    rng, rows, size = random.Random(0), 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while size < mb * 1_000_000:
            if kind == "messages":
                row = {
                    "messages": [
                        {"role": "system", "content": "Be brief."},
                        {"role": "user", "content": sentence(rng, 12)},
                        {"role": "assistant", "content": sentence(rng, 30)},
                    ]
                }
            else:
                row = {"prompt": sentence(rng, 12), "completion": sentence(rng, 30)}
            line = json.dumps(row) + "\n"
            f.write(line)
            size += len(line)
            rows += 1
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--kind", choices=("messages", "text"), default="messages")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "big.jsonl"
        rows = write_data(data, args.mb, args.kind)
        recipe = Path(tmp) / "r.yaml"
        recipe.write_text(
            f"name: big\noutput_dir: {tmp}/run\nstages:\n  - name: sft\n    kind: sft\n"
            f"    model: {tmp}\n    data: {{path: {data}}}\n"
        )
        (Path(tmp) / "config.json").write_text("{}")
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "hfpipeline", "validate", str(recipe)], capture_output=True, text=True
        )
        seconds = time.perf_counter() - start
    print((out.stdout + out.stderr).strip())
    print(f"validate: {rows:,} {args.kind} rows ({args.mb} MB) in {seconds:.2f} s ({args.mb / seconds:.0f} MB/s)")


if __name__ == "__main__":
    main()

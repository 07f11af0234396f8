"""Regenerate hfpipeline/config_fields.json, the shipped field table, from the installed transformers, TRL and PEFT.

`hfpipeline validate` checks `train:`, `peft:` and `from_config` keys against this table without importing the heavy
libraries. The shipped file is the fast path for the versions it was generated from; other versions get a table
generated once and cached (hfpipeline/config_fields.py). Run after changing the kinds registry or the pinned versions:
`python scripts/gen_config_fields.py`.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's hfpipeline, installed or not
from hfpipeline import config_fields  # noqa: E402


def main() -> None:
    config_fields.SNAPSHOT.write_text(json.dumps(config_fields.build(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {config_fields.SNAPSHOT}", file=sys.stderr)


if __name__ == "__main__":
    main()

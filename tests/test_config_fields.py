"""config_fields.json (what validation checks train:/peft:/from_config keys against) matches the installed libraries."""

import importlib.util
import json

from conftest import REPO


def test_config_fields_match_installed_libraries():
    spec = importlib.util.spec_from_file_location("gen", REPO / "scripts/gen_config_fields.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    shipped = json.loads((REPO / "hfpipeline/config_fields.json").read_text())
    assert json.loads(json.dumps(gen.build(), sort_keys=True)) == shipped, \
        "hfpipeline/config_fields.json is stale: run python scripts/gen_config_fields.py"

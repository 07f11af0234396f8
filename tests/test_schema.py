"""The recipe JSON Schema (`hfpipeline schema`, shipped as hfpipeline/recipe.schema.json): current, valid draft-07,
accepts every shipped recipe, rejects the unknown keys and bad values `validate` rejects, carries the help texts."""

import importlib.util
import json

import jsonschema
import pytest
import yaml
from conftest import REPO

from hfpipeline import config_fields
from hfpipeline.cli import main
from hfpipeline.commands import schema
from hfpipeline.errors import UserError
from hfpipeline.kinds import KINDS
from hfpipeline.recipe import load_recipe

SHIPPED = REPO / "hfpipeline/recipe.schema.json"
RECIPES = sorted((REPO / "recipes").glob("*.yaml"))
BROKEN = REPO / "tests/broken_recipes"
# broken recipes whose mistake is in the recipe's shape (not in a data file or a missing folder)
REJECTED = [
    "unknown-top-key",
    "unknown-stage-key",
    "train-typo",
    "data-key-typo",
    "peft-typo",
    "defaults-typo",
    "from-config-field",
    "from-config-type",
    "unknown-kind",
    "tokenizer-type",
    "train-choice",
    "train-type",
    "train-bool",
    "seed-type",
    "vocab-type",
    "bad-stage-name",
    "missing-name",
    "empty-stages",
    "ppo-missing-reward",
]


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft7Validator(json.loads(SHIPPED.read_text()))


SNAPSHOT_VERSIONS = json.loads(config_fields.SNAPSHOT.read_text())["versions"]
same_versions = pytest.mark.skipif(
    config_fields.installed_versions() != SNAPSHOT_VERSIONS,
    reason="the shipped schema and help texts describe the snapshot's library versions",
)


@same_versions
def test_shipped_schema_is_current_and_valid_draft7(capsys):
    assert SHIPPED.read_text() == schema.render(), "stale: run hfpipeline schema -o hfpipeline/recipe.schema.json"
    jsonschema.Draft7Validator.check_schema(json.loads(SHIPPED.read_text()))
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == SHIPPED.read_text()


@same_versions
def test_help_texts_match_installed_libraries():
    spec = importlib.util.spec_from_file_location("gen_help", REPO / "scripts/gen_config_help.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.build() == json.loads((REPO / "hfpipeline/config_help.json").read_text()), (
        "hfpipeline/config_help.json is stale: run python scripts/gen_config_help.py"
    )


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_shipped_recipe_validates_and_points_at_the_schema(path, validator):
    assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == []
    assert path.read_text().splitlines()[1] == "# yaml-language-server: $schema=../hfpipeline/recipe.schema.json"
    assert (path.parent / "../hfpipeline/recipe.schema.json").resolve() == SHIPPED


@pytest.mark.parametrize("name", REJECTED)
def test_schema_rejects_what_validate_rejects(name, validator):
    raw = yaml.safe_load((BROKEN / f"{name}.yaml").read_text())
    with pytest.raises(UserError):
        load_recipe(BROKEN / f"{name}.yaml")
    assert list(validator.iter_errors(raw)), f"{name}: the schema accepts it"


def test_typo_is_named_at_its_path(validator):
    raw = yaml.safe_load((BROKEN / "train-typo.yaml").read_text())
    (error,) = validator.iter_errors(raw)
    assert list(error.absolute_path) == ["stages", 1, "train"] and "'learnin_rate' was unexpected" in error.message


def test_every_kind_and_its_train_fields_are_described():
    built = schema.build()
    stage_kinds = built["definitions"]["stage"]["properties"]["kind"]["enum"]
    assert stage_kinds == list(KINDS)
    for name, kind in KINDS.items():
        keys = set(built["definitions"][f"stage_{name}"]["properties"])
        assert keys >= set(kind.refs) | set(kind.options) | {"name", "kind", "data"}
        assert ("train" in keys) == (kind.config is not None)
    sft = built["definitions"]["config_SFTConfig"]["properties"]
    assert sft["max_length"]["description"].startswith("Maximum length of the tokenized sequence")
    base = built["definitions"]["config_TrainingArguments"]["properties"]
    assert base["learning_rate"]["description"] == "The initial learning rate for the optimizer."
    assert sft["learning_rate"]["description"] == "The initial learning rate for AdamW."  # TRL words its own
    assert sft["seed"]["description"] == base["seed"]["description"]  # inherited
    assert sft["report_to"]["type"] == ["array", "null", "string"]


def test_values_validate_accepts_the_schema_accepts(validator):
    recipe = {
        "name": "x",
        "defaults": {"train": {"learning_rate": "1e-4", "eval_strategy": False}},
        "stages": [
            {"name": "tok", "kind": "tokenizer", "data": {"path": "demo:corpus", "text_field": ["a", "b"]}},
            {
                "name": "lm",
                "kind": "pretrain",
                "model": {"from_config": "gpt2", "n_layer": 2},
                "tokenizer": "tok",
                "data": "demo:corpus",
                "peft": {"r": 4},
            },
            {
                "name": "s2s",
                "kind": "seq2seq",
                "model": {"path": "google-t5/t5-small", "revision": "main"},
                "task": "summarize",
                "generation": {"num_beams": 2},
                "data": {"path": {"train": "a.jsonl"}},
            },
        ],
    }
    assert list(validator.iter_errors(recipe)) == []
    recipe["stages"][2]["generation"]["beams"] = 2
    assert list(validator.iter_errors(recipe))

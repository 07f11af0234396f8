"""The field table validation checks train:/peft:/from_config keys against: the shipped snapshot is what the
generator gives for the versions it names; other versions get a table generated once and cached per version set."""

import json

import pytest

from hfpipeline import config_fields

SHIPPED = json.loads(config_fields.SNAPSHOT.read_text())
FAKE = {"transformers": "5.0.0.fake", "trl": "9.9.fake", "peft": "0.0.fake"}


@pytest.mark.skipif(
    config_fields.installed_versions() != SHIPPED["versions"],
    reason=f"installed versions differ from the snapshot's {SHIPPED['versions']}: they get a cached "
    "table (tested below)",
)
def test_snapshot_matches_the_installed_libraries():
    assert json.loads(json.dumps(config_fields.build(), sort_keys=True)) == SHIPPED, (
        "hfpipeline/config_fields.json is stale: run python scripts/gen_config_fields.py"
    )


def test_snapshot_covers_every_config_class_of_the_registry():
    assert SHIPPED["key"] == config_fields.key(SHIPPED["versions"])  # key hashes the registry's config classes
    assert {"RLOOConfig", "GRPOConfig", "LoraConfig"} <= set(SHIPPED["configs"])


def test_the_snapshots_versions_take_the_fast_path(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(config_fields, "build", lambda: pytest.fail("generated although the snapshot fits"))
    assert config_fields.load(dict(SHIPPED["versions"])) == SHIPPED
    assert not (tmp_path / "hfpipeline").exists()


def test_other_versions_are_generated_once_and_cached(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    table = config_fields.load(FAKE)
    assert "reading the config fields of transformers 5.0.0.fake" in capsys.readouterr().err
    cached = tmp_path / "hfpipeline" / f"config_fields-{config_fields.key(FAKE)}.json"
    assert json.loads(cached.read_text()) == table
    assert "num_generations" in table["configs"]["RLOOConfig"] and "learning_rate" in table["configs"]["SFTConfig"]
    monkeypatch.setattr(config_fields, "build", lambda: pytest.fail("generated again"))
    assert config_fields.load(FAKE) == table  # the second call reads the cache
    other = {**FAKE, "trl": "9.10.fake"}
    assert config_fields.key(other) != config_fields.key(FAKE)  # another version gets its own table


def test_a_broken_cache_file_is_generated_again(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = tmp_path / "hfpipeline" / f"config_fields-{config_fields.key(FAKE)}.json"
    cached.parent.mkdir(parents=True)
    cached.write_text('{"configs": {')  # half written
    monkeypatch.setattr(config_fields, "build", lambda: {"configs": {"X": {}}})
    assert config_fields.load(FAKE) == {"configs": {"X": {}}}
    assert json.loads(cached.read_text()) == {"configs": {"X": {}}}


def test_a_config_class_the_libraries_lack_is_listed_unavailable(monkeypatch):
    monkeypatch.setattr(config_fields, "config_paths", lambda: ["peft:LoraConfig", "trl.nowhere:PPOConfig"])
    monkeypatch.setattr(config_fields, "_model_config_keys", lambda: {})
    table = config_fields.build()
    assert "LoraConfig" in table["configs"] and "PPOConfig" not in table["configs"]
    assert table["unavailable"]["PPOConfig"].startswith("trl.nowhere:PPOConfig: ModuleNotFoundError")

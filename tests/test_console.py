"""The terminal while a stage trains: evaluation results as short lines, raw Trainer log dicts and library warnings
in STAGE_DIR/stage.log; -v shows the libraries' own output live."""

import json

import pytest
from builders import instructions
from conftest import write_jsonl, write_recipe

from hfpipeline import console
from hfpipeline.cli import main


@pytest.fixture(autouse=True)
def quiet_again():
    yield
    console.set_verbose(False)


def sft_recipe(tmp_path, decoder) -> str:
    data = write_jsonl(tmp_path / "i.jsonl", instructions(40))
    return str(
        write_recipe(
            tmp_path / "r.yaml",
            {
                "name": "c",
                "output_dir": str(tmp_path / "run"),
                "stages": [
                    {
                        "name": "sft",
                        "kind": "sft",
                        "model": str(decoder / "sft"),
                        "data": {"path": str(data), "validation_size": 8},
                        "train": {"max_steps": 4, "logging_steps": 1, "eval_strategy": "steps", "eval_steps": 2},
                    }
                ],
            },
        )
    )


def test_raw_logs_go_to_the_stage_log_and_evaluations_are_short_lines(decoder, tmp_path, capsys):
    assert main(["run", sft_recipe(tmp_path, decoder)]) == 0
    shown = capsys.readouterr()
    err = shown.err
    assert "'loss'" not in shown.out + err and "'learning_rate'" not in shown.out + err
    assert "[sft] step 2: loss" in err and "[sft] step 4: loss" in err
    assert err.count("[sft] step 4: loss") == 1  # the final evaluation repeats step 4's: said once
    # the summary shows the headline beside what it is compared with
    summary = json.loads((tmp_path / "run/run.json").read_text())["stages"][0]["headline"]
    assert summary["baseline"] == "eval_loss_before" and summary["value"] < summary["baseline_value"]
    assert f"eval_loss={summary['value']:.4g} (vs eval_loss_before {summary['baseline_value']:.4g})" in shown.out
    logged = [
        json.loads(line) for line in (tmp_path / "run/sft/stage.log").read_text().splitlines() if line.startswith("{")
    ]
    assert [r["step"] for r in logged if "loss" in r and "eval_loss" not in r] == [1, 2, 3, 4]


def test_verbose_shows_the_libraries_output_live(decoder, tmp_path, capsys):
    assert main(["run", sft_recipe(tmp_path, decoder), "-v"]) == 0
    shown = capsys.readouterr()
    assert "'loss':" in shown.out + shown.err
    assert not (tmp_path / "run/sft/stage.log").exists()

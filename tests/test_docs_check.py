"""The docs check (bench/docs_check.py): every command block of README.md and docs/*.md is marked runnable or
excused, every check is well formed, and the runner runs blocks in order after README's set-up and checks figures."""

import importlib.util
import sys

import pytest
from conftest import REPO

spec = importlib.util.spec_from_file_location("docs_check", REPO / "bench/docs_check.py")
docs_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(docs_check)


@pytest.mark.parametrize("page", docs_check.default_pages(), ids=lambda p: p.name)
def test_every_command_block_of_the_docs_is_run_or_excused(page):
    blocks, problems = docs_check.parse(page)
    assert problems == []
    assert all(b.status in ("runnable", "excused", "plain") for b in blocks)


def test_the_docs_run_the_main_demo_and_check_figures_above_their_baselines():
    blocks = [b for page in docs_check.default_pages() for b in docs_check.parse(page)[0]]
    runnable = [b for b in blocks if b.status == "runnable"]
    assert any(b.page == "README.md" and b.text.strip() == "accelerate launch recipes/rlhf.yaml" for b in runnable)
    keys = {c.key for b in runnable for c in b.checks}
    assert {"accuracy", "majority_baseline", "mean_reward", "mean_reward_sft", "rougeL", "sacrebleu"} <= keys
    # a stated figure lies above its baseline's range
    checks = {(c.file, c.key): c for b in runnable for c in b.checks}
    api = "runs/classify-api/classify/metrics.json"
    assert checks[api, "accuracy"].low > checks[api, "majority_baseline"].high


def test_blocks_run_after_the_readme_set_up():
    assert docs_check.setup_lines() == ["source .venv/bin/activate"]


def page(tmp_path, text):
    path = tmp_path / "page.md"
    path.write_text(text)
    return path


def test_unmarked_and_malformed_blocks_are_errors(tmp_path):
    _, problems = docs_check.parse(
        page(
            tmp_path,
            """
```bash
hfpipeline env
```

```
hfpipeline run recipes/rlhf.yaml
```

<!-- check: runs/x/metrics.json accuracy high -->
<!-- runnable -->
```python
print(1)
```

<!-- not runnable: -->
```sh
ls
```

<!-- not runnable: needs the Hub -->
<!-- check: a.json x 0..1 -->
```bash
ls
```

```yaml
name: fine
```
""",
        )
    )
    assert [p.split(": ", 1)[1][:40] for p in problems] == [
        "```bash block without <!-- runnable --> ",
        "a plain ``` block that starts with `hfpi",
        "malformed mark '<!-- check: runs/x/metri",
        "malformed mark '<!-- not runnable: -->':",
        "```sh block without <!-- runnable --> or",
        "checks on a block that does not run",
    ]
    assert [p.split(":")[1] for p in problems] == ["2", "6", "12", "17", "17", "23"]


def test_blocks_run_in_order_after_the_set_up_and_their_checks_are_verified(tmp_path, capsys):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin/activate").write_text(f'export ACTIVATED=1 PATH="{sys.executable.rsplit("/", 1)[0]}:$PATH"\n')
    path = page(
        tmp_path,
        """
<!-- runnable -->
<!-- check: out.json a.b.1 2..3 -->
```bash
test "$ACTIVATED$HF_HUB_OFFLINE" = 11 && test -f recipes/rlhf.yaml
echo '{"a": {"b": [1, 2.5]}}' > out.json
```

<!-- runnable -->
<!-- check: out.json n 0..1 -->
```python
import json
json.dump({"n": json.load(open("out.json"))["a"]["b"][1]}, open("out.json", "w"))
```

<!-- runnable -->
```bash
echo never reached > later.txt
```
""",
    )
    blocks, problems = docs_check.parse(path)
    assert problems == []
    env = docs_check.clean_env([])
    assert not docs_check.run_page(path, blocks, tmp_path / "work", venv, env, timeout=60)
    out = capsys.readouterr().out
    assert "ok   out.json a.b.1 = 2.5 (expected 2..3)" in out
    assert "FAIL out.json n = 2.5 (expected 0..1)" in out
    assert (tmp_path / "work/page/later.txt").exists()  # a figure out of range stops nothing; a failed command does


def test_a_failing_command_stops_the_page_and_shows_its_output(tmp_path, capsys):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin/activate").write_text("")
    path = page(tmp_path, "<!-- runnable -->\n```bash\necho about to fail\nfalse\necho not here\n```\n")
    assert not docs_check.run_page(path, docs_check.parse(path)[0], tmp_path / "w", venv, {"PATH": "/usr/bin:/bin"}, 60)
    out = capsys.readouterr().out
    assert "exit 1" in out and "about to fail" in out and "not here" not in out

"""The thread rule: one torch thread for small models on CPU; OMP_NUM_THREADS and torch.set_num_threads win."""

import os
import subprocess
import sys

import pytest
import torch

from hfpipeline import threads


@pytest.fixture
def untouched(monkeypatch):
    """No thread variables set and torch at its default of 2 threads (as on a 2-core machine); restored after."""
    before = torch.get_num_threads()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "torch_default", lambda: 2)
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def tiny():
    return torch.nn.Linear(8, 8)


def test_small_model_gets_one_thread(untouched):
    assert threads.fit(tiny()) == 1
    assert torch.get_num_threads() == 1


def test_large_model_after_a_small_one_gets_the_default_back(untouched, monkeypatch):
    assert threads.fit(tiny()) == 1
    monkeypatch.setattr(threads, "SMALL", 50)  # the Linear's 72 parameters count as large now
    assert threads.fit(tiny()) == 2
    assert torch.get_num_threads() == 2


def test_omp_num_threads_wins(untouched, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.fit(tiny()) is None
    assert torch.get_num_threads() == 2


def test_set_num_threads_wins(untouched):
    torch.set_num_threads(3)  # a count the user chose: not torch's default
    assert threads.fit(tiny()) is None
    assert torch.get_num_threads() == 3


def test_torch_default_is_what_torch_starts_with():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"], env=env, capture_output=True, text=True
    )
    assert int(out.stdout) == threads.torch_default()

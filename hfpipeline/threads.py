"""How many CPU threads torch uses for a stage: one for small models on CPU (a second thread speeds them up to 1.8x
on a quiet machine but, with any neighbour on the cores, slows them many times over: docs/performance.md#threads);
the user's choice wins."""

import os

SMALL = 20_000_000  # parameters: below this, one thread (bench/threads.py)
_ours = {"count": None}  # the count fit() last set: a later, larger stage of the same process may raise it again


def fit(model) -> int | None:
    """On CPU, one torch thread for a model under SMALL parameters and torch's default for larger ones, unless
    OMP_NUM_THREADS/MKL_NUM_THREADS or torch.set_num_threads chose a count; returns the count set, or None."""
    import torch

    if torch.cuda.is_available() or any(os.environ.get(v) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")):
        return None
    default = torch_default()
    if torch.get_num_threads() not in (default, _ours["count"]):
        return None  # the user's torch.set_num_threads
    count = 1 if sum(p.numel() for p in model.parameters()) < SMALL else default
    torch.set_num_threads(count)
    _ours["count"] = count
    return count


def torch_default() -> int:
    """torch's own default thread count: the machine's physical cores (logical CPUs without topology)."""
    cores = set()
    for cpu in range(os.cpu_count() or 1):
        topology = f"/sys/devices/system/cpu/cpu{cpu}/topology/"
        try:
            with open(topology + "physical_package_id") as package, open(topology + "core_id") as core:
                cores.add((package.read().strip(), core.read().strip()))
        except OSError:
            return os.cpu_count() or 1
    return len(cores)

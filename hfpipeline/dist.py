"""Which process this is, and waiting for the others: the one place that asks, over accelerate's `PartialState`.
Without WORLD_SIZE > 1 (one process) nothing is imported and every process is the main one."""

import functools
import os


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    """Only the main process writes shared files and speaks."""
    return world_size() == 1 or state().is_main_process


def wait() -> None:
    """Barrier: every process reaches this line before any goes on."""
    if world_size() > 1:
        state().wait_for_everyone()


def main_says(value):
    """The main process's `value` on every process (one broadcast when there are several)."""
    if world_size() == 1:
        return value
    from accelerate.utils import broadcast_object_list

    state()
    return broadcast_object_list([value], from_process=0)[0]


def describe() -> dict:
    """How a stage ran, for run.json: number of processes, accelerate's distributed type and backend."""
    if world_size() == 1:
        return {"processes": 1, "type": "NO"}
    s = state()
    return {"processes": s.num_processes, "type": str(s.distributed_type.value), "backend": s.backend}


@functools.cache
def state():
    """accelerate's view of the launched processes; non-main processes are made quiet."""
    from accelerate import PartialState
    from accelerate.utils import DistributedType

    s = PartialState()
    if s.distributed_type == DistributedType.NO:
        s = join_cpu_job()
    if not s.is_main_process:
        _quiet()
    return s


def join_cpu_job():
    """Without a GPU, accelerate sees torchrun's processes as unrelated single-process jobs (each training on all
    the data); make them one CPU job (gloo). The one private call (PartialState._reset_state) is here and
    tests/test_distributed.py fails loudly if accelerate drops it."""
    from accelerate import PartialState

    os.environ["ACCELERATE_USE_CPU"] = "true"  # the Trainer rebuilds this state; the variable keeps it on CPU
    PartialState._reset_state()
    return PartialState(cpu=True)


def _quiet() -> None:
    """Non-main processes log errors only and draw no progress bars: the main process speaks for all."""
    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()

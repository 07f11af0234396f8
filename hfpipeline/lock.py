"""The run directory's lock, RUN_DIR/run.lock: one hfpipeline run writes into a run directory at a time. Created
atomically (O_CREAT | O_EXCL) with the owner's pid, host and start time; a lock whose process is gone from this host
is stale and taken over."""

import json
import os
import socket
import sys
import time
from pathlib import Path

from hfpipeline.errors import UserError

FILE = "run.lock"
UNWRITTEN_GRACE_S = 10  # a lock file still empty after this long was left by a process killed while creating it


def acquire(run_dir: Path) -> Path:
    """Take the lock of `run_dir` (created if needed); raise UserError naming the owner if another live run holds it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / FILE
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = read(path)
            if not stale(holder, path):
                raise UserError(
                    f"{run_dir} is in use by pid {holder.get('pid', '?')} on {holder.get('host', '?')} "
                    f"since {_when(holder.get('started'))}. Wait for that run, or set "
                    "output_dir=ANOTHER_DIR"
                ) from None
            _take_over(path, holder)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(owner(), f)
        return path
    raise UserError(f"{run_dir}: could not take {FILE} (other runs keep taking it). Try again")


def release(path: Path) -> None:
    """Remove the lock if this process still holds it."""
    if read(path).get("pid") == os.getpid() and read(path).get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


def owner() -> dict:
    """Who runs: pid, host and start time (also recorded on a running stage in run.json)."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}


def read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def alive(holder: dict) -> bool:
    """Is the process named by `holder` (pid + host) still running? Another host's process is assumed alive."""
    if holder.get("host") != socket.gethostname():
        return True
    pid = holder.get("pid")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped by its parent is a zombie: gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def stale(holder: dict, path: Path) -> bool:
    if not holder:  # empty or half-written: stale once its creator had time to finish writing it
        try:
            return time.time() - path.stat().st_mtime > UNWRITTEN_GRACE_S
        except FileNotFoundError:
            return True
    return not alive(holder)


def _take_over(path: Path, holder: dict) -> None:
    print(
        f"{path}: taking over the stale lock of pid {holder.get('pid', '?')} on {holder.get('host', '?')} "
        "(that process is gone)",
        file=sys.stderr,
        flush=True,
    )
    try:  # rename, not unlink: of two runs taking over at once, only one moves the stale file away
        os.rename(path, path.with_name(f".{FILE}.stale.{os.getpid()}"))
        path.with_name(f".{FILE}.stale.{os.getpid()}").unlink()
    except FileNotFoundError:
        pass


def _when(started) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"

"""One task at a time per cluster: a file lock that names its holder.

Tasks that change Docker objects or generated files hold the cluster's lock for their whole
run. A second task waits a little for it, then stops with one sentence naming the holder
(pid and task), instead of racing the first on the engine.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from courtyard.core.errors import CourtyardError

DEFAULT_WAIT = 10.0
POLL_INTERVAL = 0.1


class LockBusyError(CourtyardError):
    """Another task holds the cluster's lock."""


def _holder(lock_file: Path) -> str:
    try:
        data = json.loads(lock_file.read_text() or "{}")
        held_for = time.time() - float(data["since"])
        return f"`invoke {data['task']}` (pid {int(data['pid'])}, for {held_for:.0f}s)"
    except (OSError, ValueError, KeyError, TypeError):
        return "another Courtyard task"


@contextlib.contextmanager
def hold(lock_file: Path, task: str, cluster: str, wait: float = DEFAULT_WAIT) -> Iterator[None]:
    """Hold `lock_file` while the block runs; LockBusyError after `wait` seconds of waiting.

    The kernel releases the lock when the holder exits, however it exits, so a killed task
    never leaves the cluster locked."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockBusyError(
                        f"{_holder(lock_file)} is changing cluster {cluster} right now; wait "
                        f"for it to finish (or stop it), then run `invoke {task}` again"
                    ) from None
                time.sleep(POLL_INTERVAL)
        os.ftruncate(fd, 0)
        holder = {"pid": os.getpid(), "task": task, "since": time.time()}
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

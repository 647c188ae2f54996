"""The cluster lock: a second task waits, then names the holder; a dead holder frees it."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from courtyard.core.lock import LockBusyError, hold


def test_a_second_holder_is_told_who_holds_the_lock(tmp_path):
    lock_file = tmp_path / "run" / "locks" / "c.lock"
    inside, leave = threading.Event(), threading.Event()

    def first() -> None:
        with hold(lock_file, "up", "c"):
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait(10)
    try:
        with pytest.raises(LockBusyError) as err, hold(lock_file, "down", "c", wait=0.2):
            pass
        message = str(err.value)
        assert "`invoke up` (pid" in message and "cluster c" in message
        assert "run `invoke down` again" in message and "\n" not in message
    finally:
        leave.set()
        thread.join()
    with hold(lock_file, "down", "c", wait=0.2):
        pass


def test_a_waiting_task_gets_the_lock_when_the_holder_finishes(tmp_path):
    lock_file = tmp_path / "c.lock"
    inside = threading.Event()
    order: list[str] = []

    def brief() -> None:
        with hold(lock_file, "certs", "c"):
            inside.set()
            threading.Event().wait(0.3)
            order.append("holder done")

    thread = threading.Thread(target=brief)
    thread.start()
    assert inside.wait(10)
    with hold(lock_file, "up", "c", wait=10):
        order.append("waiter inside")  # only once the holder has let go
    thread.join()
    assert order == ["holder done", "waiter inside"]


def test_a_killed_holder_leaves_no_lock_behind(tmp_path):
    lock_file = tmp_path / "c.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from courtyard.core.lock import hold\n"
            f"with hold(Path({str(lock_file)!r}), 'up', 'c'):\n"
            "    print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(LockBusyError, match=f"pid {holder.pid}"),
            hold(lock_file, "up", "c", wait=0.1),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
    with hold(lock_file, "up", "c", wait=1):
        pass

"""Who holds a throw-away folder: a folder nobody holds is removed by the sweep and the
reaper, so a kept cluster or a running session's must always read as held."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from subprocess import PIPE

from courtyard.core.polling import poll
from courtyard.harness import holders
from courtyard.project.layout import Layout


def write_record(root, record) -> None:
    Layout(root).owner_file.write_text(record if isinstance(record, str) else json.dumps(record))


def test_the_process_that_made_the_folder_holds_it_while_it_runs(tmp_path):
    holders.record_this_process(tmp_path)
    owner = holders.owner_process(tmp_path)
    assert owner is not None and owner.alive() and holders.held(tmp_path)


def test_an_ended_owner_or_a_reused_pid_holds_nothing(tmp_path):
    pid = int(subprocess.check_output([sys.executable, "-c", "import os; print(os.getpid())"]))
    write_record(tmp_path, {"pid": pid, "started": "1", "host": socket.gethostname()})
    assert not holders.held(tmp_path)
    # A running pid (this process's), but another start time: a later process got the pid.
    record = {"pid": os.getpid(), "started": "1", "host": socket.gethostname()}
    write_record(tmp_path, record)
    assert not holders.held(tmp_path)


def test_a_kept_folder_is_held_by_the_user_whoever_made_it(tmp_path):
    holders.record_this_process(tmp_path)
    holders.mark_kept(tmp_path)
    assert holders.is_kept(tmp_path) and holders.held(tmp_path)
    assert holders.owner_process(tmp_path) is None  # no process for a reaper to wait for


def test_an_owner_on_another_host_is_taken_as_alive(tmp_path):
    write_record(tmp_path, {"pid": 1, "started": "1", "host": f"not-{socket.gethostname()}"})
    assert holders.held(tmp_path)


def test_no_record_or_a_broken_one_holds_nothing(tmp_path):
    assert not holders.held(tmp_path)  # none written
    for broken in ("", "not json", "[1, 2]", '{"pid": "x"}', '{"kept": "yes"}', "\xff\xfe"):
        write_record(tmp_path, broken)
        assert holders.owner_process(tmp_path) is None and not holders.held(tmp_path), broken


def test_an_owner_that_exited_but_was_not_yet_waited_for_holds_nothing(tmp_path):
    """An xdist worker torn down stays a zombie until its controller waits for it; the
    reaper woken by its exit must not take it for a live owner."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=PIPE)
    try:
        owner = holders.OwnerProcess(child.pid, holders.start_time(child.pid), socket.gethostname())
        assert owner.started is not None and owner.alive()
        child.stdin.close()  # it exits; nobody waits for it yet
        poll(lambda: _state(child.pid), what="the child to exit", timeout=10, done="Z".__eq__)
        assert holders.start_time(child.pid) is None and not owner.alive()
    finally:
        child.wait()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]

"""Who holds a throw-away project's folder: the process that made it, or the user who kept it.

The record is `<root>/.courtyard-owner`, JSON: `{"pid", "started", "host"}` for a process
(its start time from /proc tells a pid that was reused from the process itself), or
`{"kept": true}` once a session hands its cluster to the user (`--courtyard-keep`). A
folder held by nobody (its owner ended, or it names none) is a leftover: the sweep and the
reaper remove it.

Standard library only: the reaper reads it while it waits, before it loads anything else.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from courtyard.project.layout import Layout


@dataclass(frozen=True)
class OwnerProcess:
    pid: int
    started: str | None  # clock ticks since boot, as /proc/<pid>/stat field 22 says
    host: str

    def alive(self) -> bool:
        """Whether the process still runs; one on another host is taken as alive."""
        if self.host != socket.gethostname():
            return True
        return self.started is not None and start_time(self.pid) == self.started


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc), None if it has ended: it
    is gone, or a zombie that its parent has not yet waited for."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # field 3 on, counted after the command name
    return None if fields[0] in ("Z", "X") else fields[19]


def record_this_process(root: Path) -> None:
    """This process holds `root` from now on."""
    write_process_record(Layout(root).owner_file)


def write_process_record(path: Path) -> None:
    """Write this process's record (pid, start time, host) to `path`."""
    pid = os.getpid()
    record = {"pid": pid, "started": start_time(pid), "host": socket.gethostname()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def mark_kept(root: Path) -> None:
    """The user holds `root` from now on: no sweep or reaper removes it."""
    Layout(root).owner_file.write_text(json.dumps({"kept": True}))


def _record(root: Path) -> dict | None:
    return _read(Layout(root).owner_file)


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def owner_process(root: Path) -> OwnerProcess | None:
    """The process recorded as holding `root`; None when kept, or when none is recorded."""
    return process_in(Layout(root).owner_file)


def process_in(path: Path) -> OwnerProcess | None:
    """The process a record file names; None when it names none."""
    record = _read(path)
    if record is None:
        return None
    try:
        return OwnerProcess(int(record["pid"]), record["started"], str(record["host"]))
    except (KeyError, TypeError, ValueError):
        return None


def is_kept(root: Path) -> bool:
    return (_record(root) or {}).get("kept") is True


def held(root: Path) -> bool:
    """Whether anybody still holds `root`: the user kept it, or its owner still runs. A
    folder that is gone, or names no owner, is nobody's."""
    if is_kept(root):
        return True
    owner = owner_process(root)
    return owner is not None and owner.alive()

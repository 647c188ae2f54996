"""The reaper: a throw-away cluster goes when the process that made it ends without removing
it (a second Ctrl-C, an xdist worker its controller tears down, SIGKILL, `os._exit`).

`watch(root)` starts `python -m courtyard.harness.reaper ROOT` in a session of its own, so a
Ctrl-C at the terminal does not reach it, and returns as soon as it has detached. The reaper
waits for the owner recorded in ROOT (`holders.py`) to end, woken by the exit itself (a
pidfd; where there is none, it asks /proc twice a second), then removes what is left of that
cluster unless the user kept it (`projects.reap`). An owner that removed its cluster itself
left nothing: the reaper just ends. What a reaper could not remove (no engine then, or the
reaper itself killed) is still found by `sweep_leftovers`.

Testcontainers' Ryuk does the same job from a container; a process needs no image and no
socket held open by the tests.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

from courtyard.harness import holders
from courtyard.project.layout import Layout

REAP_INTERVAL = 0.5  # seconds between looks at /proc where the kernel has no pidfd
LOG_NAME = "reaper.log"


def watch(root: Path) -> None:
    """Start the reaper of the throw-away folder `root` (its owner record written first).
    What it says goes to `<root>/run/reaper.log`, removed with the folder."""
    log = Layout(root).run / LOG_NAME
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        subprocess.run(
            [sys.executable, "-m", __name__, str(root)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
            check=True,
        )


def wait_until_ended(owner: holders.OwnerProcess) -> None:
    """Return once `owner` has ended (at once when it already has)."""
    try:
        pidfd = os.pidfd_open(owner.pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):  # no pidfd here: ask /proc now and then
        from courtyard.core.polling import poll

        poll(
            lambda: not owner.alive(),
            what=f"process {owner.pid} to end",
            timeout=float("inf"),
            interval=REAP_INTERVAL,
        )
        return
    try:
        if owner.alive():  # the pid is still the owner's, not a later process's
            select.select([pidfd], [], [])
    finally:
        os.close(pidfd)


def main(argv: list[str]) -> int:
    """Detach, wait for the owner of folder argv[0] to end, remove what it left."""
    if len(argv) != 1:
        print("usage: python -m courtyard.harness.reaper PROJECT_FOLDER", file=sys.stderr)
        return 2
    if os.fork():  # the parent returns at once: `watch` waits for nothing longer
        return 0
    root = Path(argv[0])
    owner = holders.owner_process(root)
    if owner is None:  # kept, or not a throw-away folder
        return 0
    wait_until_ended(owner)
    if holders.held(root) or not root.exists():  # kept meanwhile, or removed by its owner
        return 0
    # Loaded only now: a reaper that waits holds the interpreter and this module alone.
    from courtyard.core.errors import CourtyardError
    from courtyard.harness.projects import reap
    from courtyard.runtime import engine

    try:
        removed = reap(engine.connect(), root)
    except CourtyardError as exc:  # no engine now: the next sweep removes it
        print(f"courtyard reaper: {exc}", file=sys.stderr)
        return 1
    print(f"courtyard reaper: process {owner.pid} ended; removed {', '.join(removed) or root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

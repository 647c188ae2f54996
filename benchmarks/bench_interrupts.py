"""What an interrupted pytest session leaves behind, and for how long.

    python -m benchmarks.bench_interrupts [--runs 10] [--mode group|controller|kill] [--xdist 2]

Each run starts `pytest examples/orders --courtyard-ephemeral` (with `-p xdist -n N` when
pytest-xdist is installed and --xdist is given) in a process group of its own, and after a
random 3-12 s interrupts it as `--mode` says: `group` is a real Ctrl-C (SIGINT to the
controller and its workers), `controller` SIGINT to the controller alone (its workers are
torn down by it), `kill` SIGKILL to the whole group. Then it watches the throw-away
clusters' containers, networks, volumes and `/tmp/courtyard-pytest-*` folders: a run is
clean when all of them are gone within 60 s of the processes' end. Prints each run and the
count of runs that left something, with the median time from the interrupt until all was
gone. Run it with no other Courtyard test session on the machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import REPO
from courtyard.core.polling import WaitTimeout, poll
from courtyard.project import naming
from courtyard.runtime.engine import connect

PREFIX = naming.PYTEST_RELEASE_PREFIX
CLEAN_WAIT = 60.0


def leftovers(client) -> list[str]:
    """Every throw-away test cluster's object and folder on the machine."""
    selector = naming.ANY_CLUSTER_SELECTOR
    found = [
        *(c.name for c in client.containers.list(all=True, filters=selector)),
        *(n.name for n in client.networks.list(filters=selector)),
        *(v.name for v in client.volumes.list(filters=selector)),
    ]
    found = [name for name in found if name.startswith(f"{PREFIX}-")]
    return found + [str(p) for p in Path(tempfile.gettempdir()).glob(f"{PREFIX}-*")]


def one_run(client, mode: str, workers: int, delay: float) -> tuple[list[str], float, str]:
    """(what was left CLEAN_WAIT s after the session's processes ended, seconds from the
    interrupt until nothing was left, pytest's last line)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if workers:
        command += ["-p", "xdist", "-n", str(workers)]
    command += [str(REPO / "examples" / "orders"), "--courtyard-ephemeral"]
    session = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        process_group=0,  # like a shell's job: a group of its own, SIGINT not ignored
    )
    time.sleep(delay)  # the interrupt lands wherever the session happens to be
    interrupted = time.monotonic()
    if mode == "controller":
        session.send_signal(signal.SIGINT)
    else:
        os.killpg(session.pid, signal.SIGKILL if mode == "kill" else signal.SIGINT)
    output, _ = session.communicate(timeout=120)
    poll(
        lambda: not _group_alive(session.pid),
        what="the session's workers to end",
        timeout=60,
    )
    try:
        poll(lambda: leftovers(client), what="nothing left", timeout=CLEAN_WAIT, done=_empty)
        left: list[str] = []
    except WaitTimeout as exc:
        left = exc.last
    last = (output or "").strip().splitlines()[-1:] or [""]
    return left, time.monotonic() - interrupted, last[0]


def _empty(found: list[str]) -> bool:
    return not found


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--mode", choices=("group", "controller", "kill"), default="group")
    parser.add_argument("--xdist", type=int, default=2, help="workers; 0 runs without xdist")
    args = parser.parse_args()
    workers = args.xdist if importlib.util.find_spec("xdist") else 0
    if args.xdist and not workers:
        print("pytest-xdist is not installed: the sessions run without workers")
    client = connect()
    if leftovers(client):
        sys.exit(f"throw-away test clusters exist already: {', '.join(leftovers(client))}")
    dirty, clean_times = 0, []
    for run in range(1, args.runs + 1):
        delay = round(random.uniform(3, 12), 2)
        left, seconds, last = one_run(client, args.mode, workers, delay)
        if left:
            dirty += 1
            print(f"run {run}: {args.mode} at {delay}s; LEFT {len(left)}: {', '.join(left)}")
            subprocess.run([sys.executable, "-m", "invoke", "-r", str(REPO), "down"], check=False)
        else:
            clean_times.append(seconds)
            print(f"run {run}: {args.mode} at {delay}s; all gone {seconds:.1f}s after ({last})")
    median = f"{statistics.median(clean_times):.1f}s" if clean_times else "n/a"
    print(
        f"{args.mode}, xdist workers {workers}: {dirty} of {args.runs} runs left something "
        f"{CLEAN_WAIT:.0f}s after the session ended; median from the interrupt until all "
        f"was gone: {median}"
    )


if __name__ == "__main__":
    main()

"""Cold `up`, warm `up`, `down` and the servers' own meta-leader election, per cluster size,
with the start gate on and (with --gate both) off, as medians and ranges over N runs.

    python -m benchmarks.bench_up [--replicas 3,5,7] [--runs 10] [--gate on|off|both]

Cold up starts from no containers (image present, volumes removed). The election time is
read from the nodes' logs: from the first container start to the first "new metadata
leader" line; "first campaign won" counts the runs whose leader came before nats-server's
shortest election timeout (4 s), that is without a second election. Courtyard's overhead is
cold up minus that election time. Each size runs on a throw-away cluster with its own names
and ports, removed afterwards. The last lines check
the targets of issue #15 on the gated runs: a 7-node cold up within 1.5 times the 3-node
one, and no 3-node cold up slower than twice the median.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import time

from benchmarks.common import bench_project, median, quiet_up
from courtyard.runtime import docker_objects, start_gate
from courtyard.runtime.engine import connect
from courtyard.runtime.teardown import down

LEADER_LINE = re.compile(
    r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) \[INF\] JetStream cluster new metadata leader"
)
MEASURES = ("cold up", "election", "overhead", "warm up", "down")
# nats-server's shortest Raft election timeout (raft.go minElectionTimeoutDefault): a meta
# leader sooner than this was elected by the first campaign, a later one by a second
# election after the first failed.
FIRST_CAMPAIGN_WITHIN = 4.0


def election_seconds(project) -> float:
    """Seconds from the first node's start to the first meta-leader line in any node's log."""
    client = connect()
    starts, elected = [], []
    for container in docker_objects.our_containers(client, project):
        started = container.attrs["State"]["StartedAt"]
        starts.append(dt.datetime.fromisoformat(started[:26].rstrip("Z") + "+00:00"))
        for match in LEADER_LINE.finditer(container.logs().decode(errors="replace")):
            stamp = dt.datetime.strptime(match.group(1), "%Y/%m/%d %H:%M:%S.%f")
            elected.append(stamp.replace(tzinfo=dt.UTC))
    return (min(elected) - min(starts)).total_seconds()


def measure(replicas: int, runs: int, gate: bool) -> dict[str, list[float]]:
    os.environ[start_gate.DISABLE_ENV] = "1" if gate else "0"
    client = connect()
    found: dict[str, list[float]] = {name: [] for name in MEASURES}
    with bench_project(replicas=replicas) as project:
        quiet_up(project)  # certs, configs and the image exist before the first timed run
        down(client, project, volumes=True)
        for _ in range(runs):
            started = time.monotonic()
            quiet_up(project)
            cold = time.monotonic() - started
            election = election_seconds(project)
            started = time.monotonic()
            quiet_up(project)
            warm = time.monotonic() - started
            started = time.monotonic()
            down(client, project, volumes=True)
            values = (cold, election, cold - election, warm, time.monotonic() - started)
            for name, value in zip(MEASURES, values, strict=True):
                found[name].append(value)
    return found


def spread(values: list[float]) -> str:
    return f"{median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--replicas", default="3,5,7", help="comma-separated cluster sizes")
    parser.add_argument("--gate", choices=("on", "off", "both"), default="on")
    args = parser.parse_args()
    sizes = [int(size) for size in args.replicas.split(",")]
    gates = {"on": [True], "off": [False], "both": [False, True]}[args.gate]
    print(f"Medians of {args.runs} runs in seconds, (min-max):\n")
    columns = ["nodes", "start gate", *MEASURES, "first campaign won"]
    print(f"| {' | '.join(columns)} |")
    print(f"|{' --- |' * len(columns)}")
    cold: dict[tuple[int, bool], list[float]] = {}
    for gate in gates:
        for size in sizes:
            found = measure(size, args.runs, gate)
            cold[size, gate] = found["cold up"]
            cells = " | ".join(spread(found[name]) for name in MEASURES)
            won = sum(seconds < FIRST_CAMPAIGN_WITHIN for seconds in found["election"])
            print(
                f"| {size} | {'on' if gate else 'off'} | {cells} | {won}/{args.runs} |", flush=True
            )
    print()
    for gate in gates:
        label = "gate on" if gate else "gate off"
        if (3, gate) in cold and (7, gate) in cold:
            ratio = median(cold[7, gate]) / median(cold[3, gate])
            print(f"{label}: 7-node / 3-node median cold up = {ratio:.2f} (target <= 1.5)")
        if (3, gate) in cold:
            worst = max(cold[3, gate]) / median(cold[3, gate])
            print(f"{label}: slowest 3-node cold up / median = {worst:.2f} (target < 2)")


if __name__ == "__main__":
    main()

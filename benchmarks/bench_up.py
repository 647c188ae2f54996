"""Median of N runs per cluster size: cold `up`, warm `up`, `down`, and the servers' own
meta-leader election.

    python -m benchmarks.bench_up [--replicas 3,5,7] [--runs 5]

Cold up starts from no containers (image present, volumes removed); the election time is
read from the nodes' logs: from the first container start to the first "new metadata
leader" line. Courtyard's overhead is cold up minus that election time. Each size runs on
a throw-away cluster with its own names and ports, removed afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import time

from benchmarks.common import bench_project, median, quiet_up
from courtyard.runtime import docker_objects
from courtyard.runtime.engine import connect
from courtyard.runtime.teardown import down

LEADER_LINE = re.compile(
    r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) \[INF\] JetStream cluster new metadata leader"
)
MEASURES = (
    "cold up",
    "meta leader elected after start",
    "overhead (cold up - election)",
    "warm up",
    "down",
)


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


def measure(replicas: int, runs: int) -> dict[str, list[float]]:
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
            for name, value in zip(
                MEASURES,
                (cold, election, cold - election, warm, time.monotonic() - started),
                strict=True,
            ):
                found[name].append(value)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--replicas", default="3", help="comma-separated cluster sizes, e.g. 3,5,7")
    args = parser.parse_args()
    sizes = [int(size) for size in args.replicas.split(",")]
    print(f"| nodes | measure (median of {args.runs}) | seconds | all runs |")
    print("| --- | --- | --- | --- |")
    for size in sizes:
        for name, values in measure(size, args.runs).items():
            print(
                f"| {size} | {name} | {median(values):.2f} | "
                f"{', '.join(f'{v:.2f}' for v in values)} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

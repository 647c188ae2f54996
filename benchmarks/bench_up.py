"""Median of N runs: cold `up`, warm `up`, `down`, and the servers' own meta-leader election.

    python -m benchmarks.bench_up [--runs 5]

Cold up starts from no containers (image present, volumes removed); the election time is
read from the nodes' logs: from the first container start to the "new metadata leader" line.
Courtyard's overhead is cold up minus that election time.
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
    r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) \[INF\] JetStream cluster new metadata leader")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    cold, warm, downs, election = [], [], [], []
    with bench_project() as project:
        quiet_up(project)  # certs, configs and the image exist before the first timed run
        down(connect(), project, volumes=True)
        for _ in range(runs):
            started = time.monotonic()
            quiet_up(project)
            cold.append(time.monotonic() - started)
            election.append(election_seconds(project))
            started = time.monotonic()
            quiet_up(project)
            warm.append(time.monotonic() - started)
            started = time.monotonic()
            down(connect(), project, volumes=True)
            downs.append(time.monotonic() - started)
    overhead = [c - e for c, e in zip(cold, election, strict=True)]
    rows = [("cold up", cold), ("meta leader elected after start", election),
            ("Courtyard overhead (cold up - election)", overhead), ("warm up", warm),
            ("down", downs)]
    print(f"| measure (median of {runs}) | seconds | all runs |")
    print("| --- | --- | --- |")
    for name, values in rows:
        print(f"| {name} | {median(values):.2f} | {', '.join(f'{v:.2f}' for v in values)} |")


if __name__ == "__main__":
    main()

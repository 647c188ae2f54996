"""Cold up and the restart with data, per cluster size, beside the bare servers' own floor.

    python -m benchmarks.bench_up [--replicas 3,5,7] [--runs 20]

Per run and size:
  * cold up: `up` from no containers and no volumes (image, certs and configs exist);
  * restart with data: `down` (volumes kept), then `up` again on the servers' own state;
  * the bare floor: the same configs as bare nats-server processes on 127.0.0.1
    (benchmarks/bare_servers.py), from empty stores and restarted on their own state,
    judged ready by the same checks. It needs root; without, the column says why.
Each size runs on a throw-away cluster with its own names and ports, removed afterwards.
"lost rounds" counts cold ups whose first meta-leader election was lost (the `up` line
"First meta-leader election lost"), and of those the ones `up` started again on emptied
volumes instead of waiting for nats-server's next election.

The last lines check issue #24's targets, as ratios of this one run: the slowest cold up
within 1.5 times the median (3 and 5 nodes), the median restart with data within 1.3 times
the bare servers' median restart; and report the 7-node / 3-node median cold up.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.bare_servers import BareCluster, unavailable
from benchmarks.common import bench_project, median, quiet_up
from courtyard.runtime.engine import connect
from courtyard.runtime.teardown import down

LOST_ROUND = "First meta-leader election lost"
RESTARTED = "started the nodes again"


@dataclass
class Series:
    cold: list[float] = field(default_factory=list)
    restart: list[float] = field(default_factory=list)
    bare_cold: list[float] = field(default_factory=list)
    bare_restart: list[float] = field(default_factory=list)
    lost_rounds: int = 0
    restarted: int = 0  # of the lost rounds, those `up` started again instead of waiting


def timed(action) -> tuple[float, object]:
    started = time.monotonic()
    result = action()
    return time.monotonic() - started, result


def measure(replicas: int, runs: int, bare: bool) -> Series:
    client = connect()
    found = Series()
    with bench_project(replicas=replicas) as project:
        quiet_up(project)  # certs, configs and the image exist before the first timed run
        down(client, project, volumes=True)
        for _ in range(runs):
            seconds, recorder = timed(lambda: quiet_up(project))
            found.cold.append(seconds)
            found.lost_rounds += LOST_ROUND in recorder.text
            found.restarted += RESTARTED in recorder.text
            down(client, project)
            found.restart.append(timed(lambda: quiet_up(project))[0])
            down(client, project, volumes=True)
        if bare:
            with tempfile.TemporaryDirectory(prefix="courtyard-bare-") as tmp:
                servers = BareCluster(project, Path(tmp))
                for _ in range(runs):
                    servers.wipe()
                    found.bare_cold.append(timed(servers.start_ready)[0])
                    servers.stop()
                    found.bare_restart.append(timed(servers.start_ready)[0])
                    servers.stop()
    return found


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{median(values):.2f} ({min(values):.2f}-{max(values):.2f}, x{slowest(values):.2f})"


def slowest(values: list[float]) -> float:
    return max(values) / median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--replicas", default="3,5", help="comma-separated cluster sizes")
    args = parser.parse_args()
    sizes = [int(size) for size in args.replicas.split(",")]
    why_no_bare = unavailable()
    print(f"Medians of {args.runs} runs in seconds (min-max, xslowest/median):\n")
    columns = ["nodes", "cold up", "lost rounds", "restart with data", "bare cold", "bare restart"]
    print(f"| {' | '.join(columns)} |")
    print(f"|{' --- |' * len(columns)}")
    found: dict[int, Series] = {}
    for size in sizes:
        series = found[size] = measure(size, args.runs, bare=not why_no_bare)
        cells = [
            spread(series.cold),
            f"{series.lost_rounds}/{args.runs} ({series.restarted} started again)",
            spread(series.restart),
            spread(series.bare_cold),
            spread(series.bare_restart),
        ]
        print(f"| {size} | {' | '.join(cells)} |", flush=True)
    print()
    if why_no_bare:
        print(f"bare servers: not measured, {why_no_bare}")
    for size in (3, 5):
        if size in found:
            ratio = slowest(found[size].cold)
            print(f"{size} nodes: slowest cold up / median = {ratio:.2f} (target <= 1.5)")
    for size, series in found.items():
        if series.bare_restart:
            ratio = median(series.restart) / median(series.bare_restart)
            print(f"{size} nodes: restart with data / bare restart = {ratio:.2f} (target <= 1.3)")
    if 3 in found and 7 in found:
        ratio = median(found[7].cold) / median(found[3].cold)
        print(f"7-node / 3-node median cold up = {ratio:.2f} (reported, no longer a target)")


if __name__ == "__main__":
    main()

"""Certificate rotation under load: what a publisher and the cluster see, and how long it takes.

    python -m benchmarks.bench_rotation [--runs 5]

On one 3-node cluster, each run: renew every leaf (`certs --force`, then `up`, which reloads
each node) and then replace the CA (`rotate-ca`, three phases), each while one reconnecting
nats-py publisher sends acked messages to an R3 file stream and /routez and /jsz of every
node are sampled every 100 ms. Reported, medians over the runs (and totals for counts):
time, longest time without an acknowledgement, client disconnects, acknowledged messages
lost, and samples without a full route mesh or a meta leader.
"""

from __future__ import annotations

import argparse
import logging
import time

from benchmarks.common import bench_project, median, quiet_up
from courtyard.artefacts import rotation
from courtyard.artefacts.certs import ensure_certs
from courtyard.commands import rotate
from courtyard.core.reporter import Recorder
from courtyard.harness.drills import run_under_load
from courtyard.servers.natsclient import run_quietly


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    rows: dict[str, list] = {"leaf renewal (`certs --force`, `up`)": [], "rotate-ca": []}
    phases: dict[str, list[float]] = {title: [] for title in rotation.PHASES}
    with bench_project(host_base=30000) as project:
        quiet_up(project)
        for _ in range(args.runs):

            def renew() -> float:
                started = time.monotonic()
                ensure_certs(project.spec, project.names, project.layout, force=True)
                quiet_up(project)
                return time.monotonic() - started

            def replace_ca() -> float:
                started = time.monotonic()
                took = rotate.run(project, reporter=Recorder())
                for title, seconds in took.items():
                    phases[title].append(seconds)
                return time.monotonic() - started

            for name, action in zip(rows, (renew, replace_ca), strict=True):
                report, seconds = run_quietly(run_under_load(project, action))
                rows[name].append((seconds, report))
    print(
        f"| {args.runs} runs each | time | publish gap | disconnects | lost | "
        "samples without full mesh or meta leader |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, runs in rows.items():
        reports = [r for _, r in runs]
        print(
            f"| {name} | {median([s for s, _ in runs]):.2f} s "
            f"| {median([r.longest_gap for r in reports]) * 1000:.0f} ms "
            f"| {sum(r.disconnects for r in reports)} "
            f"| {sum(r.lost for r in reports)} of {sum(r.acked for r in reports)} "
            f"| {sum(len(r.broken) for r in reports)} of {sum(r.samples for r in reports)} |"
        )
    for title, seconds in phases.items():
        print(f"| rotate-ca phase: {title} | {median(seconds):.2f} s | | | | |")


if __name__ == "__main__":
    main()

"""What asking the servers through the system identity costs.

    python -m benchmarks.bench_report [--runs 5]

On a ready 3-node cluster with one R3 stream and a consumer: `invoke report`'s gathering
(STATSZ and JSZ with accounts, streams and consumers from every server), the same with one
node stopped (the ping waits for the answers it will not get), and the smoke's
system-account check (the system identity's two pings, an admin's and a restricted
identity's refused requests, a stranger's refused login). Medians of the runs; with
`--chart DIR`, also `export-helm --verify`'s run of the chart's rendered pods.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from benchmarks.common import bench_project, median, quiet_up
from courtyard.checks import report
from courtyard.checks.smoke import Smoke
from courtyard.checks.workload import create_stream, publish_once_reachable
from courtyard.harness.chart_run import run_chart
from courtyard.helm import chart as helm_chart
from courtyard.runtime.engine import connect as docker_connect
from courtyard.runtime.image import ensure_image
from courtyard.servers.natsclient import connect, run_quietly


async def with_a_stream(project) -> None:
    nc = await connect(project)
    try:
        js = nc.jetstream()
        await create_stream(js, name="BENCH_REPORT", subjects=["bench.report"], num_replicas=3)
        for _ in range(100):
            await publish_once_reachable(js, "bench.report", b"x")
        await js.add_consumer("BENCH_REPORT", durable_name="audit", ack_policy="explicit")
    finally:
        await nc.close()


def timed(action) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chart", type=Path, help="a nats/nats 2.14.2 chart folder")
    args = parser.parse_args()
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    rows = []
    with bench_project() as project:
        quiet_up(project)
        run_quietly(with_a_stream(project))
        gathered = [timed(lambda: report.report(project)) for _ in range(args.runs)]
        rows.append(("report, 3 of 3 nodes up", gathered))

        async def system_check() -> None:
            await Smoke(project).system_rights()

        checked = [timed(lambda: run_quietly(system_check())) for _ in range(args.runs)]
        rows.append(("smoke: system-account check", checked))
        client = docker_connect()
        client.containers.get(project.names.pod(2)).stop(timeout=5)
        one_down = [timed(lambda: report.report(project)) for _ in range(args.runs)]
        rows.append(("report, 1 of 3 nodes down", one_down))
        if args.chart:
            chart = helm_chart.load(args.chart)
            image = ensure_image(client).tag
            runs = [
                timed(lambda: run_chart(client, project, chart, image)) for _ in range(args.runs)
            ]
            rows.append(("export-helm --verify: rendered pods run and asked", runs))
    print(f"| {args.runs} runs | median | min | max |")
    print("| --- | --- | --- | --- |")
    for name, values in rows:
        print(f"| {name} | {median(values):.2f} s | {min(values):.2f} s | {max(values):.2f} s |")


if __name__ == "__main__":
    main()

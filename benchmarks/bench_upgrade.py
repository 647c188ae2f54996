"""helm upgrade of a 0.x release, rehearsed on the real engine: what a publisher sees.

    python -m benchmarks.bench_upgrade [--runs 3]

Needs the charts 0.19.17 and 2.14.2 ($COURTYARD_CHARTS, Helm's cache or the repository).
Each run starts the pods the 0.19.17 chart renders from the legacy export (a fresh release,
fresh volumes), then replaces them highest ordinal first by the pods the 2.14.2 chart renders
from `export-helm --upgrade-from legacy`, under one acked publisher into an R3 file stream
with a durable consumer. Reported, medians over the runs (totals for counts): the old pod's
stop (preStop lame duck, then SIGTERM), the new pod until the whole cluster is ready, the
whole roll, the longest time without an acknowledgement, acknowledged messages and lost.
"""

from __future__ import annotations

import argparse
import logging
import time

from benchmarks.common import bench_project, median
from courtyard.artefacts.certs import ensure_certs
from courtyard.harness.upgrade_rehearsal import files_folder, rehearse
from courtyard.helm import chart as helm_chart
from courtyard.helm import pods as chart_pods
from courtyard.helm import values as helm_values
from courtyard.helm.upgrade import render_upgrade
from courtyard.runtime.engine import connect
from courtyard.runtime.image import ensure_image
from courtyard.servers.natsclient import run_quietly


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    legacy = helm_chart.find(None, helm_values.LEGACY_CHART_VERSION)
    current = helm_chart.find(None, helm_values.chart_version())
    client = connect()
    image = ensure_image(client).tag
    stops, readies, rolls, gaps, acked, lost = [], [], [], [], 0, 0
    for run in range(args.runs):
        changes = {"helm": {"layout": "legacy"}, "cluster_name": "nats"}
        with bench_project(host_base=31000 + run * 200, changes=changes) as project:
            ensure_certs(project.spec, project.names, project.layout)
            old_objects, new_objects = render_upgrade(project, legacy, current)
            old = chart_pods.pods_of(old_objects, project, files_folder(project) / "0.x")
            new = chart_pods.pods_of(new_objects, project, files_folder(project) / "upgrade")
            chart_pods.run_release(client, project, old, image)
            started = time.monotonic()
            report = run_quietly(rehearse(client, project, old, new, image))
            rolls.append(time.monotonic() - started)
            stops += [stop for _, stop, _ in report.replaced]
            readies += [ready for _, _, ready in report.replaced]
            gaps.append(report.longest_gap)
            acked += report.acked
            lost += report.lost
            if not report.ok:
                print(f"run {run + 1}: {report.problems}")
    print(
        f"| {args.runs} runs | old pod stops | new pod until cluster ready | whole roll "
        "(with publishing and checks) | publish gap | acked | lost |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| 3 pods, highest ordinal first | {median(stops):.2f} s | {median(readies):.2f} s | "
        f"{median(rolls):.1f} s | {median(gaps):.2f} s | {acked} | {lost} |"
    )


if __name__ == "__main__":
    main()

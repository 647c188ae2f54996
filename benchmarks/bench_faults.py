"""The fault drills, measured: what each fault costs a publisher, and how long `up` heals it.

    python -m benchmarks.bench_faults [--runs 3]

Each drill (courtyard/harness/drills.py) runs on one 3-node cluster: an R3 file stream, one
reconnecting nats-py publisher sending with a message id and retrying until acknowledged,
the fault held for 2 s, `up` to heal, 100 more acknowledgements. Reported per fault, over
the runs: acknowledged messages (total), acknowledged messages lost (total), the longest
time without an acknowledgement (none for the burst, whose publisher stops before the
kill) and the time `up` took to return with the cluster ready (medians).
"""

from __future__ import annotations

import argparse
import logging

from benchmarks.common import bench_project, median, quiet_up
from courtyard.harness.drills import FAULTS, run_drill
from courtyard.runtime.engine import connect
from courtyard.servers.natsclient import run_quietly


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    client = connect()
    rows = []
    with bench_project(host_base=29000) as project:
        quiet_up(project)
        for name in FAULTS:
            reports = [
                run_quietly(run_drill(project, client, name, heal=lambda: quiet_up(project)))
                for _ in range(args.runs)
            ]
            rows.append(
                (
                    name,
                    sum(r.acked for r in reports),
                    sum(r.lost for r in reports),
                    median([r.longest_gap for r in reports]),
                    median([r.recovery for r in reports]),
                    all(not r.during.healthy for r in reports),
                    all(r.after.healthy for r in reports),
                )
            )
    print(
        f"| fault ({args.runs} runs each) | acked | lost | publish gap | recovery (`up`) | status |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, acked, lost, gap, recovery, during, after in rows:
        truth = "unhealthy during, healthy after" if during and after else "WRONG"
        shown_gap = f"{gap:.2f} s" if gap else "-"
        print(f"| {name} | {acked} | {lost} | {shown_gap} | {recovery:.2f} s | {truth} |")


if __name__ == "__main__":
    main()

"""`invoke smoke` timing and JetStream publish throughput through nats-py.

    python -m benchmarks.bench_smoke [--runs 5] [--messages 10000]

Smoke: median wall time of `smoke` with 1000 messages on a ready cluster. Throughput: one
nats-py connection to node 0 publishes 128-byte messages asynchronously with a bounded window
of pending acks (256), into a fresh stream per run; messages per second, median of the runs,
for 3 vs 1 replicas and file vs memory storage.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from nats.js.api import StorageType

from benchmarks.common import bench_project, median, quiet_up
from courtyard.checks import smoke
from courtyard.checks.workload import create_stream, publish_once_reachable
from courtyard.servers.natsclient import connect

WINDOW = 256
PAYLOAD = b"x" * 128


async def throughput(
    project, replicas: int, storage: StorageType, messages: int, run: int
) -> float:
    nc = await connect(project, [0])
    try:
        js = nc.jetstream(publish_async_max_pending=WINDOW)
        stream = f"BENCH_R{replicas}_{storage.value.upper()}_{run}"
        await create_stream(
            js, name=stream, subjects=[f"bench.{stream}"], storage=storage, num_replicas=replicas
        )
        await publish_once_reachable(js, f"bench.{stream}", PAYLOAD)
        started = time.monotonic()
        for _ in range(messages - 1):
            await js.publish_async(f"bench.{stream}", PAYLOAD)
        await js.publish_async_completed()
        elapsed = time.monotonic() - started
        info = await js.stream_info(stream)
        assert info.state.messages == messages, info.state
        await js.delete_stream(stream)
        return (messages - 1) / elapsed
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    with bench_project(host_base=26000) as project:
        quiet_up(project)
        times = []
        for _ in range(args.runs):
            started = time.monotonic()
            report = smoke.run(project, messages=1000)
            times.append(time.monotonic() - started)
            assert report.ok, [c for c in report.checks if not c.ok]
        print(f"| measure (median of {args.runs}) | value | all runs |")
        print("| --- | --- | --- |")
        print(
            f"| smoke, 1000 messages | {median(times):.2f} s | "
            f"{', '.join(f'{t:.2f}' for t in times)} |"
        )
        for replicas in (3, 1):
            for storage in (StorageType.FILE, StorageType.MEMORY):
                rates = [
                    asyncio.run(throughput(project, replicas, storage, args.messages, run))
                    for run in range(args.runs)
                ]
                print(
                    f"| publish R{replicas} {storage.value}, {args.messages} x 128 B, window "
                    f"{WINDOW} | {median(rates):,.0f} msg/s | "
                    f"{', '.join(f'{r:,.0f}' for r in rates)} |"
                )


if __name__ == "__main__":
    main()

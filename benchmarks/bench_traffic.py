"""What crossing the hub costs: two teams against two admins, on one cluster, in one run.

    python -m benchmarks.bench_traffic [--runs 5] [--requests 1000] [--messages 50000]

Between two admins a message stays in one account (APP); between two teams it crosses two
service imports (the sender's account to APP, APP to the receiver's). For each pair, the
sender on node 0 and the receiver on node 1:

- request latency: sequential requests answered by the receiver, median and 99th percentile;
- core publish throughput: 128-byte messages until the receiver has them all;
- JetStream publish throughput: 128-byte messages into an R3 file stream of the receiver's
  (for the teams: `payments` keeping `orders.created.>`), a window of 256 pending acks,
  acked = stored checked.

Medians of the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from dataclasses import dataclass

from benchmarks.common import bench_project, median, quiet_up
from courtyard.checks.workload import create_stream, publish_until_stored
from courtyard.project import naming
from courtyard.servers.natsclient import connect

PAYLOAD = b"x" * 128
WINDOW = 256
CLIENTS = [
    "dev",
    "dev2",
    {
        "name": "orders",
        "publish": ["orders.>", "payments.charge"],
        "subscribe": ["orders.>", "payments.settled.>"],
    },
    {
        "name": "payments",
        "publish": ["payments.>"],
        "subscribe": ["payments.>", "orders.created.>"],
        "streams": ["PAYMENTS"],
    },
    {"name": "ops", "system": True},
]


@dataclass(frozen=True)
class Pair:
    label: str
    sender: str
    receiver: str
    request: str  # a subject the sender may request and the receiver serve
    event: str  # a subject the sender may publish and the receiver subscribe to
    stream: str  # a stream of the receiver's


PAIRS = (
    Pair("two admins (one account)", "dev", "dev2", "bench.charge", "bench.created.x", "BENCH"),
    Pair(
        "two teams (orders -> APP -> payments)",
        "orders",
        "payments",
        "payments.charge",
        "orders.created.x",
        "PAYMENTS",
    ),
)


async def _as(project, name: str, node: int):
    return await connect(project, [node], identity=name, inbox_prefix=naming.inbox_prefix(name))


async def request_latency(project, pair: Pair, count: int) -> tuple[float, float]:
    sender, receiver = await _as(project, pair.sender, 0), await _as(project, pair.receiver, 1)
    try:

        async def answer(msg):
            await msg.respond(b"ok")

        await receiver.subscribe(pair.request, cb=answer)
        await receiver.flush()
        for _ in range(100):  # until the subscription has crossed to node 0
            try:
                await sender.request(pair.request, b"warm", timeout=0.5)
                break
            except Exception:
                await asyncio.sleep(0.05)
        took = []
        for _ in range(count):
            started = time.perf_counter()
            await sender.request(pair.request, PAYLOAD, timeout=2)
            took.append(time.perf_counter() - started)
        took.sort()
        return statistics.median(took) * 1000, took[int(len(took) * 0.99) - 1] * 1000
    finally:
        await sender.close()
        await receiver.close()


async def publish_throughput(project, pair: Pair, messages: int) -> float:
    sender, receiver = await _as(project, pair.sender, 0), await _as(project, pair.receiver, 1)
    try:
        got = 0
        done = asyncio.Event()

        async def count(msg):
            nonlocal got
            if msg.data == PAYLOAD:
                got += 1
                if got == messages:
                    done.set()

        await receiver.subscribe(pair.event, cb=count, pending_msgs_limit=messages * 2)
        await receiver.flush()
        seen = asyncio.Event()

        async def warm(msg):
            seen.set()

        warm_sub = await receiver.subscribe(pair.event + ".warm", cb=warm)
        await receiver.flush()
        while not seen.is_set():
            await sender.publish(pair.event + ".warm", b"")
            await sender.flush()
            await asyncio.sleep(0.02)
        await warm_sub.unsubscribe()
        started = time.perf_counter()
        for _ in range(messages):
            await sender.publish(pair.event, PAYLOAD)
        await sender.flush()
        await asyncio.wait_for(done.wait(), 60)
        return messages / (time.perf_counter() - started)
    finally:
        await sender.close()
        await receiver.close()


async def jetstream_throughput(project, pair: Pair, messages: int, run: int) -> float:
    sender, receiver = await _as(project, pair.sender, 0), await _as(project, pair.receiver, 1)
    owner = receiver.jetstream()
    subject = pair.event.rsplit(".", 1)[0] + f".js{run}"
    try:
        await create_stream(owner, name=pair.stream, subjects=[subject], num_replicas=3)
        js = sender.jetstream(publish_async_max_pending=WINDOW)
        await publish_until_stored(js, subject, b"warm")
        started = time.perf_counter()
        for _ in range(messages):
            await js.publish_async(subject, PAYLOAD)
        await js.publish_async_completed()
        elapsed = time.perf_counter() - started
        stored = (await owner.stream_info(pair.stream)).state.messages
        assert stored == messages + 1, f"{pair.label}: {messages + 1} acked, {stored} stored"
        return messages / elapsed
    finally:
        await owner.delete_stream(pair.stream)
        await sender.close()
        await receiver.close()


async def one_run(project, args, run: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    for pair in PAIRS:
        p50, p99 = await request_latency(project, pair, args.requests)
        results[f"{pair.label}|request p50 ms"] = [p50]
        results[f"{pair.label}|request p99 ms"] = [p99]
        results[f"{pair.label}|core msgs/s"] = [
            await publish_throughput(project, pair, args.messages)
        ]
        results[f"{pair.label}|JetStream msgs/s"] = [
            await jetstream_throughput(project, pair, args.messages // 5, run)
        ]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=50_000)
    args = parser.parse_args()
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    with bench_project(changes={"tls": {"clients": CLIENTS}}) as project:
        quiet_up(project)
        totals: dict[str, list[float]] = {}
        for run in range(args.runs):
            for key, values in asyncio.run(one_run(project, args, run)).items():
                totals.setdefault(key, []).extend(values)
    measures = list(dict.fromkeys(key.split("|")[1] for key in totals))
    print(f"| pair (median of {args.runs} runs) | " + " | ".join(measures) + " |")
    print("| --- |" + " --- |" * len(measures))
    for pair in PAIRS:
        cells = []
        for measure in measures:
            value = median(totals[f"{pair.label}|{measure}"])
            cells.append(f"{value:.2f}" if measure.endswith(" ms") else f"{value:,.0f}")
        print(f"| {pair.label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

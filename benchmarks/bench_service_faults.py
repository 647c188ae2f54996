"""What each fault of the pytest plugin costs a service's publishes, and how long its heal takes.

    python -m benchmarks.bench_service_faults [--runs 3] [--hold 6]

One 3-node cluster. Per run of a fault: an R3 file stream, one reconnecting nats-py
publisher on every node's URL sending with a message id and retrying until acknowledged
(`AckedPublisher`, as the drills and the smoke's failover), the fault applied through the
plugin's own `FaultInjector` to the node its role names, held `--hold` seconds, healed (the
plugin's heal: undo, then the readiness wait), 100 more acknowledgements, then every
acknowledged message looked up in the stream. Reported per fault: acknowledged and lost
messages (totals over the runs), the longest stall without an acknowledgement, how long
applying the fault took until it showed (a lame-duck stop: until the server exited) and the
heal until the cluster was ready (medians). Link faults need root; without it they are reported
as not run, with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass

from benchmarks.common import bench_project, median, quiet_up
from courtyard.harness.faults import FaultInjector, MetaLeader, SlowLink, StreamLeader, Target
from courtyard.harness.publisher import AckedPublisher
from courtyard.runtime import link_faults
from courtyard.runtime.engine import connect
from courtyard.servers.natsclient import run_quietly


@dataclass(frozen=True)
class Case:
    title: str
    kind: str
    role: str  # "stream" (the stream's leader) or "meta" (the meta leader)
    slow: SlowLink | None = None

    @property
    def needs_links(self) -> bool:
        return self.kind in ("partition", "isolate-clients", "slow")


CASES = [
    Case("partition the stream leader", "partition", "stream"),
    Case("isolate the stream leader's clients", "isolate-clients", "stream"),
    Case("pause the stream leader", "pause", "stream"),
    Case("kill the stream leader", "kill", "stream"),
    Case("kill the meta leader", "kill", "meta"),
    Case("stop the stream leader (lame duck)", "stop", "stream"),
    Case("10% loss on the stream leader's links", "slow", "stream", SlowLink(loss=10)),
]


@dataclass
class Run:
    acked: int
    lost: int
    stall: float
    took: float  # applying the fault until it showed (a lame-duck stop: until the exit)
    heal: float


async def one_run(injector: FaultInjector, case: Case, hold: float) -> Run:
    async with AckedPublisher(injector.project, "bench_faults") as load:
        stream = load.stream
        target: Target = StreamLeader(stream) if case.role == "stream" else MetaLeader()
        fault = await asyncio.to_thread(injector.apply, case.kind, target, case.slow)
        await asyncio.sleep(hold)
        await asyncio.to_thread(injector.heal, fault)
        await load.more()
        await load.stop()
        lost, _ = await load.verify()
        stall = load.log.longest_gap()
        return Run(len(load.log.acked), lost, stall, fault.took, fault.healed_in or 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    # Long enough for the nodes left to elect the leaders they lost while the fault holds.
    parser.add_argument("--hold", type=float, default=6.0)
    args = parser.parse_args()
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    logging.getLogger("nats").setLevel(logging.CRITICAL)
    client = connect()
    no_links = link_faults.unavailable_reason()
    title = f"fault ({args.runs} runs each, held {args.hold:g} s)"
    print(f"| {title} | acked | lost | longest stall | applied in | heal until ready |")
    print("| --- | --- | --- | --- | --- | --- |")
    with bench_project(host_base=29500) as project:
        quiet_up(project)
        injector = FaultInjector(client, project)
        for case in CASES:
            if case.needs_links and no_links:
                print(f"| {case.title} | not run: {no_links} | | | | |")
                continue
            runs = [run_quietly(one_run(injector, case, args.hold)) for _ in range(args.runs)]
            stall, heal = median([r.stall for r in runs]), median([r.heal for r in runs])
            took = median([r.took for r in runs])
            acked, lost = sum(r.acked for r in runs), sum(r.lost for r in runs)
            figures = f"{stall:.2f} s | {took:.2f} s | {heal:.2f} s"
            print(f"| {case.title} | {acked} | {lost} | {figures} |", flush=True)


if __name__ == "__main__":
    main()

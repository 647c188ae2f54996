"""Fault drills: break the running cluster under an acked publisher, heal it, count.

A drill creates an R3 file stream, keeps one reconnecting nats-py publisher sending with a
`Nats-Msg-Id` per message (a failed publish is retried with the same id), injects a fault
through the Docker engine, asks `status` while the fault holds, heals the cluster, and
reports: messages acknowledged, acknowledged messages missing from the stream (must be 0),
the longest time without an acknowledgement, and the time the heal took until the cluster
was ready again. Healing is the caller's (tests and benchmarks heal with `invoke up`'s code,
which this layer may not import).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import docker

from courtyard.checks.status import ClusterStatus, cluster_status
from courtyard.core.polling import WaitTimeout, poll_async
from courtyard.harness.publisher import AckedPublisher, LoadReport
from courtyard.project.loaded import Project
from courtyard.runtime import docker_objects
from courtyard.servers import jsz, monitor

HOLD_SECONDS = 2.0  # how long a fault holds before the cluster is healed
SAMPLE_INTERVAL = 0.1  # how often `run_under_load` samples the cluster
AFTER_SETTLE = 15.0  # how long `status` may take to say healthy after the heal
T = TypeVar("T")


@dataclass
class DrillReport:
    name: str
    acked: int = 0
    lost: int = 0
    problems: list[str] = field(default_factory=list)  # what the stream check found
    longest_gap: float = 0.0
    recovery: float = 0.0  # the heal (`up`) until the cluster is ready again
    during: ClusterStatus | None = None  # what `status` said while the fault held
    after: ClusterStatus | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "acked": self.acked,
            "lost": self.lost,
            "problems": self.problems,
            "longest_gap_s": round(self.longest_gap, 2),
            "recovery_s": round(self.recovery, 2),
            "status_during": self.during.problems if self.during else None,
            "healthy_after": self.after.healthy if self.after else None,
        }


# Faults: each takes (engine, project, stream leader) and returns what it did -------------
def _container(client: docker.DockerClient, name: str):
    container = docker_objects.get_container(client, name)
    if container is None:
        raise RuntimeError(f"no container {name}")
    return container


def kill_meta_leader(client: docker.DockerClient, project: Project, leader: str) -> str:
    name = jsz.meta_leader(project.names.monitor_targets)
    if not name:
        raise RuntimeError("no node names a JetStream meta leader")
    _container(client, name).kill()
    return f"killed meta leader {name}"


def stop_two(client: docker.DockerClient, project: Project, leader: str) -> str:
    names = [n for n in project.names.pods if n != leader][:2]
    docker_objects.in_parallel([lambda n=n: _container(client, n).stop(timeout=5) for n in names])
    return f"stopped {', '.join(names)}"


def pause_stream_leader(client: docker.DockerClient, project: Project, leader: str) -> str:
    _container(client, leader).pause()
    return f"paused stream leader {leader}"


def disconnect_stream_leader(client: docker.DockerClient, project: Project, leader: str) -> str:
    network = docker_objects.get_network(client, project.names.network)
    network.disconnect(_container(client, leader), force=True)
    return f"disconnected stream leader {leader} from {network.name}"


def kill_all(client: docker.DockerClient, project: Project, leader: str) -> str:
    docker_objects.in_parallel(
        [lambda n=n: _container(client, n).kill() for n in project.names.pods]
    )
    return f"killed all {len(project.names.pods)} nodes"


FAULTS: dict[str, Callable[[docker.DockerClient, Project, str], str]] = {
    "kill the meta leader": kill_meta_leader,
    "stop two of three nodes": stop_two,
    "pause the stream leader": pause_stream_leader,
    "disconnect the stream leader from its network": disconnect_stream_leader,
    "kill all three after a burst": kill_all,
}


async def run_drill(
    project: Project,
    client: docker.DockerClient,
    name: str,
    heal: Callable[[], None],
    *,
    hold: float = HOLD_SECONDS,
) -> DrillReport:
    """Run the fault `name` of FAULTS under an acked publisher; heal with `heal()`."""
    fault = FAULTS[name]
    report = DrillReport(name)
    burst_only = name == "kill all three after a burst"
    async with AckedPublisher(project) as load:
        if burst_only:  # the burst is acknowledged; the nodes die with nothing in flight
            await load.stop()
        leader = await load.leader()
        report.detail = await asyncio.to_thread(fault, client, project, leader)
        await asyncio.sleep(hold)
        report.during = await asyncio.to_thread(cluster_status, client, project)
        healing = time.monotonic()
        await asyncio.to_thread(heal)
        report.recovery = time.monotonic() - healing
        if not burst_only:
            await load.more()
            await load.stop()
        report.acked = len(load.log.acked)
        # A burst's publisher stopped before the kill: it saw no gap to report.
        report.longest_gap = 0.0 if burst_only else load.log.longest_gap()
        report.lost, report.problems = await load.verify()
        report.after = await _settled_status(client, project)
    return report


def sample_cluster(project: Project) -> str | None:
    """None when every node has routes to all its peers and names a meta leader; else what
    is missing (one sample, as a rotation is watched)."""
    expected = project.names.replicas - 1
    for pod, port in project.names.monitor_targets:
        peers = monitor.peers_of(port)
        if len(peers) < expected:
            return f"{pod} has routes to {len(peers)}/{expected} peers"
        if not jsz.fetch(port, "/jsz").meta_leader:
            return f"{pod} names no meta leader"
    return None


async def run_under_load(project: Project, action: Callable[[], T]) -> tuple[LoadReport, T]:
    """Run the blocking `action` while a publisher sends and the cluster is sampled every
    SAMPLE_INTERVAL (routes full mesh, a meta leader on every node)."""
    report = LoadReport()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            report.samples += 1
            broken = sample_cluster(project)
            if broken:
                report.broken.append(broken)
            done.wait(SAMPLE_INTERVAL)

    async with AckedPublisher(project, kind="load") as load:
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            result = await asyncio.to_thread(action)
            await load.more()
        finally:
            done.set()
            watcher.join()
        await load.finish(report)
    return report, result


async def _settled_status(
    client: docker.DockerClient, project: Project, timeout: float = AFTER_SETTLE
) -> ClusterStatus:
    """`status` once it says healthy, or its last answer after `timeout`: a replica that
    takes a moment to catch up right after the heal is not a lie, a lasting problem is."""
    seen: list[ClusterStatus] = []

    async def status() -> ClusterStatus:
        seen.append(await asyncio.to_thread(cluster_status, client, project))
        return seen[-1]

    try:
        return await poll_async(
            status,
            what="status to say healthy",
            timeout=timeout,
            interval=0.2,
            done=lambda answer: answer.healthy,
        )
    except WaitTimeout:
        return seen[-1]

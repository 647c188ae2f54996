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
import contextlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import docker
from nats.js.api import StorageType

from courtyard.checks import monitor
from courtyard.checks.natsclient import connect
from courtyard.checks.status import ClusterStatus, cluster_status
from courtyard.checks.workload import RETRYABLE, PublishLog, create_stream, publish_until
from courtyard.core.polling import poll_async
from courtyard.runtime import docker_objects
from courtyard.spec.project import Project

WARM_UP_ACKS = 100
HOLD_SECONDS = 2.0  # how long a fault holds before the cluster is healed
AFTER_ACKS = 100  # acknowledgements wanted after healing, before the publisher stops
SAMPLE_INTERVAL = 0.1  # how often `run_under_load` samples the cluster
AFTER_SETTLE = 15.0  # how long `status` may take to say healthy after the heal
T = TypeVar("T")
PUBLISHER = {
    "allow_reconnect": True,
    "max_reconnect_attempts": -1,
    "reconnect_time_wait": 0.1,
    # A paused node answers nothing; two missed pings a second apart move the client on.
    "ping_interval": 1,
    "max_outstanding_pings": 2,
}


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
def meta_leader(project: Project) -> str:
    for _, port in project.names.monitor_targets:
        jsz = monitor.get(port, "/jsz").body
        if isinstance(jsz, dict) and (jsz.get("meta_cluster") or {}).get("leader"):
            return jsz["meta_cluster"]["leader"]
    raise RuntimeError("no node names a JetStream meta leader")


def _container(client: docker.DockerClient, name: str):
    container = docker_objects.get_container(client, name)
    if container is None:
        raise RuntimeError(f"no container {name}")
    return container


def kill_meta_leader(client: docker.DockerClient, project: Project, leader: str) -> str:
    name = meta_leader(project)
    _container(client, name).kill()
    return f"killed meta leader {name}"


def stop_two(client: docker.DockerClient, project: Project, leader: str) -> str:
    names = [n for n in project.names.pods if n != leader][:2]
    docker_objects.in_parallel([lambda n=n: _container(client, n).stop(timeout=5) for n in names])
    return f"stopped {', '.join(names)}"


def pause_stream_leader(client: docker.DockerClient, project: Project, leader: str) -> str:
    _container(client, leader).pause()
    return f"paused stream leader {leader}"


def partition_stream_leader(client: docker.DockerClient, project: Project, leader: str) -> str:
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
    "partition the stream leader": partition_stream_leader,
    "kill all three after a burst": kill_all,
}


class AckedPublisher:
    """An R3 file stream and one reconnecting publisher that sends into it until stopped,
    each message with its own `Nats-Msg-Id` and retried until acknowledged; counts the
    client's disconnects. `async with` creates the stream, starts publishing and waits for
    the first acknowledgements; leaving deletes the stream and closes the connections."""

    def __init__(self, project: Project, kind: str = "drill") -> None:
        self.project = project
        tag = secrets.token_hex(3).upper()
        self.stream, self.subject = f"{kind.upper()}_{tag}", f"{kind}.{tag}"
        self.log, self.stopped = PublishLog(), asyncio.Event()
        self.disconnects = 0
        self.task: asyncio.Task | None = None
        self.admin = self.publisher = None

    async def _disconnected(self) -> None:
        self.disconnects += 1

    @property
    def js(self):
        return self.admin.jetstream(timeout=2)

    async def __aenter__(self) -> AckedPublisher:
        self.admin = await connect(self.project, role="load-admin", **PUBLISHER)
        self.publisher = await connect(
            self.project,
            role="load-publisher",
            disconnected_cb=self._disconnected,
            **PUBLISHER,
        )
        await create_stream(
            self.js,
            name=self.stream,
            subjects=[f"{self.subject}.>"],
            storage=StorageType.FILE,
            num_replicas=3,
            duplicate_window=600,
        )
        publishing = publish_until(
            self.publisher.jetstream(),
            f"{self.subject}.x",
            self.stopped.is_set,
            self.log,
            give_up_after=120,
        )
        self.task = asyncio.create_task(publishing)
        await _acked_at_least(self.log, WARM_UP_ACKS)
        return self

    async def more(self, count: int = AFTER_ACKS) -> None:
        """Wait for `count` more acknowledgements: the publisher goes on after a fault."""
        await _acked_at_least(self.log, len(self.log.acked) + count)

    async def stop(self) -> None:
        self.stopped.set()
        if self.task is not None:
            await self.task

    async def verify(self) -> tuple[int, list[str]]:
        return await _missing(self.js, self.stream, self.log)

    async def finish(self, report: LoadReport) -> None:
        """Stop publishing; record in `report` what the publisher saw and what was lost."""
        await self.stop()
        report.acked = len(self.log.acked)
        report.longest_gap = self.log.longest_gap()
        report.disconnects = self.disconnects
        report.lost, report.problems = await self.verify()

    async def __aexit__(self, *exc_info: object) -> None:
        self.stopped.set()
        if self.task is not None and not self.task.done():
            self.task.cancel()
        with contextlib.suppress(Exception):  # the cluster may be what failed
            await self.js.delete_stream(self.stream)
        for nc in (self.publisher, self.admin):
            if nc is not None:
                await nc.close()


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
        leader = (await load.js.stream_info(load.stream)).cluster.leader
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


@dataclass
class LoadReport:
    """What a publisher saw while an action ran, and what the cluster looked like."""

    acked: int = 0
    lost: int = 0
    problems: list[str] = field(default_factory=list)
    longest_gap: float = 0.0
    disconnects: int = 0
    samples: int = 0  # cluster samples taken (every SAMPLE_INTERVAL)
    broken: list[str] = field(default_factory=list)  # samples without full mesh or leader


def sample_cluster(project: Project) -> str | None:
    """None when every node has routes to all its peers and names a meta leader; else what
    is missing (one sample, as a rotation is watched)."""
    expected = project.names.replicas - 1
    for pod, port in project.names.monitor_targets:
        peers = monitor.peers_of(port)
        if len(peers) < expected:
            return f"{pod} has routes to {len(peers)}/{expected} peers"
        jsz = monitor.get(port, "/jsz").body
        if not isinstance(jsz, dict) or not (jsz.get("meta_cluster") or {}).get("leader"):
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
    deadline = time.monotonic() + timeout
    while True:
        status = await asyncio.to_thread(cluster_status, client, project)
        if status.healthy or time.monotonic() >= deadline:
            return status
        await asyncio.sleep(0.2)


async def _acked_at_least(log: PublishLog, count: int, timeout: float = 120.0) -> None:
    async def enough() -> bool:
        return len(log.acked) >= count

    await poll_async(enough, what=f"{count} acknowledged publishes", timeout=timeout, interval=0.05)


async def _missing(js, stream: str, log: PublishLog) -> tuple[int, list[str]]:
    """How many acknowledged messages the stream lacks (or holds wrongly), and why."""

    async def answers():
        return await js.stream_info(stream)

    await poll_async(
        answers, what=f"stream {stream} to answer", timeout=60, interval=0.1, not_yet=RETRYABLE
    )
    lost, problems = 0, []
    for index, seq in log.acked:
        try:
            message = await js.get_msg(stream, seq)
        except Exception as exc:
            lost += 1
            problems.append(f"message {index} (seq {seq}): {type(exc).__name__}")
            continue
        if message.data != str(index).encode():
            lost += 1
            problems.append(f"seq {seq} holds {message.data!r}, expected message {index}")
    info = await js.stream_info(stream)
    if info.state.messages != len(log.acked):
        problems.append(f"stream holds {info.state.messages} messages, {len(log.acked)} acked")
    return lost, problems[:10]

"""`invoke smoke --failover`: stop the stream leader's node under load and lose nothing.

A publisher sends continuously with acks and a `Nats-Msg-Id` per message, retrying with the
same id through the remaining nodes. The leader's container is stopped, then started again.
Reported: time without a stream leader, publishes that needed a retry, time until the
restarted replica caught up. It passes only when every acknowledged message is in the
stream exactly once and in order, and the restarted node holds the same last sequence.

An ordinary check: it registers its stream in the run's `Created`, like every check, and
reads straight through its phases in `Failover.run`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import docker
from docker.models.containers import Container
from nats.aio.client import Client
from nats.js.api import StorageType
from nats.js.client import JetStreamContext

from courtyard.checks import monitor, readiness
from courtyard.checks.natsclient import connect
from courtyard.checks.outcome import CheckFailed, Created
from courtyard.checks.workload import (
    RETRYABLE,
    PublishLog,
    create_stream,
    publish_until,
    stream_problems,
)
from courtyard.core.polling import WaitTimeout, poll_async
from courtyard.runtime import docker_objects
from courtyard.spec.project import Project

WARM_UP_ACKS = 50
ACKS_UNDER_NEW_LEADER = 100
PHASE_TIMEOUT = 60.0
RECONNECTING = {"allow_reconnect": True, "max_reconnect_attempts": -1, "reconnect_time_wait": 0.1}


def last_seq_on(port: int, stream: str) -> int | None:
    """The last sequence of `stream` as the node on monitor port `port` holds it."""
    reply = monitor.get(port, "/jsz?streams=true")
    if not isinstance(reply.body, dict):
        return None
    for account in reply.body.get("account_details") or []:
        for detail in account.get("stream_detail") or []:
            if detail.get("name") == stream:
                return (detail.get("state") or {}).get("last_seq")
    return None


class Failover:
    """One failover run against the running cluster; `run()` reads as its phases."""

    def __init__(
        self, project: Project, client: docker.DockerClient, created: Created, tag: str
    ) -> None:
        self.project, self.client, self.created = project, client, created
        self.stream, self.subject = f"SMOKE_FO_{tag}", f"smoke.{tag}.fo"
        self.log, self.stop_publishing = PublishLog(), asyncio.Event()
        self.publisher_task: asyncio.Task | None = None
        self.admin: Client | None = None
        self.publisher: Client | None = None
        self.stopped: Container | None = None  # started again in `restore` if a phase failed
        self.old_leader = ""
        self.stopped_at = 0.0
        self.leaderless = self.catch_up = 0.0
        self.last_seq = 0

    @property
    def js(self) -> JetStreamContext:
        return self.admin.jetstream(timeout=1)

    async def run(self) -> dict[str, Any]:
        if self.project.spec.replicas < 3:
            raise CheckFailed("failover needs at least 3 nodes so that a quorum survives")
        try:
            await self.start_publishing()
            await self.stop_the_stream_leader()
            await self.wait_for_a_new_leader()
            await self.keep_publishing_under_the_new_leader()
            await self.restart_and_catch_up()
            await self.stop_publishing_and_verify()
            await self.wait_until_the_cluster_is_ready()
        except WaitTimeout as exc:
            raise CheckFailed(str(exc)) from None
        finally:
            await self.restore()
        return self.report()

    # Phases ------------------------------------------------------------------------------
    async def start_publishing(self) -> None:
        self.admin = await connect(self.project, role="failover-admin", **RECONNECTING)
        self.publisher = await connect(self.project, role="failover-publisher", **RECONNECTING)
        await create_stream(
            self.js,
            name=self.created.stream(self.stream),
            subjects=[f"{self.subject}.>"],
            storage=StorageType.FILE,
            num_replicas=3,
            duplicate_window=300,
        )
        self.publisher_task = asyncio.create_task(
            publish_until(
                self.publisher.jetstream(),
                f"{self.subject}.x",
                self.stop_publishing.is_set,
                self.log,
            )
        )
        await self._acked_at_least(WARM_UP_ACKS, "the first acks")

    async def stop_the_stream_leader(self) -> None:
        self.old_leader = (await self.js.stream_info(self.stream)).cluster.leader
        self.stopped = docker_objects.get_container(self.client, self.old_leader)
        self.stopped_at = time.monotonic()
        await asyncio.to_thread(self.stopped.stop, timeout=10)

    async def wait_for_a_new_leader(self) -> None:
        async def new_leader() -> bool:
            info = await self.js.stream_info(self.stream)
            return bool(
                info.cluster and info.cluster.leader and info.cluster.leader != self.old_leader
            )

        await poll_async(
            new_leader, what="a new stream leader", timeout=PHASE_TIMEOUT, not_yet=RETRYABLE
        )
        self.leaderless = time.monotonic() - self.stopped_at

    async def keep_publishing_under_the_new_leader(self) -> None:
        await self._acked_at_least(
            len(self.log.acked) + ACKS_UNDER_NEW_LEADER, "publishes under the new leader"
        )

    async def restart_and_catch_up(self) -> None:
        await asyncio.to_thread(self.stopped.start)
        started = time.monotonic()
        port = self._monitor_port(self.old_leader)

        async def caught_up() -> bool:
            info = await self.js.stream_info(self.stream)
            replica = next(
                (r for r in info.cluster.replicas or [] if r.name == self.old_leader), None
            )
            if replica is None or not replica.current:
                return False
            last = await asyncio.to_thread(last_seq_on, port, self.stream)
            return last is not None and last >= info.state.last_seq

        await poll_async(
            caught_up,
            what=f"{self.old_leader} to catch up",
            timeout=PHASE_TIMEOUT,
            not_yet=RETRYABLE,
        )
        self.catch_up = time.monotonic() - started

    async def stop_publishing_and_verify(self) -> None:
        self.stop_publishing.set()
        await self.publisher_task
        self.last_seq = (await self.js.stream_info(self.stream)).state.last_seq
        port = self._monitor_port(self.old_leader)

        async def holds_last() -> bool:
            return await asyncio.to_thread(last_seq_on, port, self.stream) == self.last_seq

        await poll_async(
            holds_last, what=f"{self.old_leader} to hold the last sequence", timeout=PHASE_TIMEOUT
        )
        problems = await stream_problems(self.js, self.stream, self.log)
        if problems:
            raise CheckFailed("; ".join(problems))

    async def wait_until_the_cluster_is_ready(self) -> None:
        state = await asyncio.to_thread(
            readiness.wait_for_cluster,
            self.project,
            self.project.names.monitor_targets,
            PHASE_TIMEOUT,
        )
        if not state.ready:
            raise CheckFailed(f"cluster not ready after the failover: {state.problems[0]}")

    # Helpers -----------------------------------------------------------------------------
    async def _acked_at_least(self, count: int, what: str) -> None:
        async def enough() -> bool:
            if self.publisher_task.done():
                self.publisher_task.result()  # raises the publisher's error
            return len(self.log.acked) >= count

        await poll_async(enough, what=what, timeout=PHASE_TIMEOUT)

    def _monitor_port(self, pod: str) -> int:
        names = self.project.names
        return names.monitor_host_port(names.pods.index(pod))

    async def restore(self) -> None:
        """Whatever happened: stop publishing, start the stopped node, close connections."""
        self.stop_publishing.set()
        if self.publisher_task is not None and not self.publisher_task.done():
            self.publisher_task.cancel()
            await asyncio.gather(self.publisher_task, return_exceptions=True)
        if self.stopped is not None:
            await asyncio.to_thread(self.stopped.reload)
            if self.stopped.status != "running":
                await asyncio.to_thread(self.stopped.start)
        for nc in (self.publisher, self.admin):
            if nc is not None:
                await nc.close()

    def report(self) -> dict[str, Any]:
        return {
            "stopped_node": self.old_leader,
            "leaderless_seconds": round(self.leaderless, 3),
            "retried_publishes": self.log.retried,
            "failed_attempts": self.log.failed_attempts,
            "catch_up_seconds": round(self.catch_up, 3),
            "acked": len(self.log.acked),
            "last_seq": self.last_seq,
            "summary": (
                f"stopped {self.old_leader}: {self.leaderless:.2f}s without a stream "
                f"leader, {self.log.retried} publishes retried, caught up "
                f"{self.catch_up:.2f}s after restart; {len(self.log.acked)} acked "
                "messages all present once, in order"
            ),
        }

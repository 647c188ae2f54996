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

from courtyard.checks import readiness
from courtyard.checks.outcome import CheckFailed, Created
from courtyard.checks.smoke import ExtraCheck, ExtraFindings, Smoke
from courtyard.checks.workload import RETRYABLE
from courtyard.core.polling import WaitTimeout, poll_async
from courtyard.harness.publisher import AckedPublisher
from courtyard.project.loaded import Project
from courtyard.runtime import docker_objects
from courtyard.servers import jsz

WARM_UP_ACKS = 50
ACKS_UNDER_NEW_LEADER = 100
PHASE_TIMEOUT = 60.0


def last_seq_on(port: int, stream: str) -> int | None:
    """The last sequence of `stream` as the node on monitor port `port` holds it."""
    detail = jsz.fetch(port, "/jsz?streams=true").stream(stream)
    return detail.last_seq if detail is not None else None


class Failover:
    """One failover run against the running cluster; `run()` reads as its phases."""

    def __init__(
        self, project: Project, client: docker.DockerClient, created: Created, tag: str
    ) -> None:
        self.project, self.client, self.created = project, client, created
        self.load = AckedPublisher(project, f"smoke_fo_{tag}", warm_up=WARM_UP_ACKS)
        self.stream = created.stream(self.load.stream)
        self.stopped: Container | None = None  # started again in `restore` if a phase failed
        self.old_leader = ""
        self.stopped_at = 0.0
        self.leaderless = self.catch_up = 0.0
        self.last_seq = 0

    @property
    def js(self):
        return self.load.js

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
        await self.load.__aenter__()

    async def stop_the_stream_leader(self) -> None:
        self.old_leader = await self.load.leader()
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
        await self.load.more(ACKS_UNDER_NEW_LEADER, "publishes under the new leader")

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
        await self.load.stop()
        self.last_seq = (await self.js.stream_info(self.stream)).state.last_seq
        port = self._monitor_port(self.old_leader)

        async def holds_last() -> bool:
            return await asyncio.to_thread(last_seq_on, port, self.stream) == self.last_seq

        await poll_async(
            holds_last, what=f"{self.old_leader} to hold the last sequence", timeout=PHASE_TIMEOUT
        )
        lost, problems = await self.load.verify()
        if lost or problems:
            raise CheckFailed(f"{lost} acknowledged message(s) lost: {'; '.join(problems)}")

    async def wait_until_the_cluster_is_ready(self) -> None:
        state = await asyncio.to_thread(
            readiness.poll_cluster,
            self.project,
            self.project.names.monitor_targets,
            PHASE_TIMEOUT,
        )
        if not state.ready:
            raise CheckFailed(f"cluster not ready after the failover: {state.problems[0]}")

    # Helpers -----------------------------------------------------------------------------
    def _monitor_port(self, pod: str) -> int:
        names = self.project.names
        return names.monitor_host_port(names.pods.index(pod))

    async def restore(self) -> None:
        """Whatever happened: stop publishing, start the stopped node, close connections."""
        if self.stopped is not None:
            await asyncio.to_thread(self.stopped.reload)
            if self.stopped.status != "running":
                await asyncio.to_thread(self.stopped.start)
        await self.load.__aexit__(None, None, None)

    def report(self) -> dict[str, Any]:
        return {
            "stopped_node": self.old_leader,
            "leaderless_seconds": round(self.leaderless, 3),
            "retried_publishes": self.load.log.retried,
            "failed_attempts": self.load.log.failed_attempts,
            "catch_up_seconds": round(self.catch_up, 3),
            "acked": self.load.acked,
            "last_seq": self.last_seq,
            "summary": (
                f"stopped {self.old_leader}: {self.leaderless:.2f}s without a stream "
                f"leader, {self.load.log.retried} publishes retried, caught up "
                f"{self.catch_up:.2f}s after restart; {self.load.acked} acked "
                "messages all present once, in order"
            ),
        }


async def _smoke_failover(smoke: Smoke) -> ExtraFindings:
    figures = await Failover(smoke.project, smoke.client, smoke.created, smoke.tag).run()
    return ExtraFindings("failover", figures["summary"], figures)


# What `invoke smoke --failover` adds to the smoke's checks.
SMOKE_CHECK: ExtraCheck = ("failover: stream leader stopped, nothing lost", _smoke_failover)

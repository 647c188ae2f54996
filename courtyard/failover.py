"""`invoke smoke --failover`: stop the stream leader's node under load and lose nothing.

A publisher sends continuously with acks and a `Nats-Msg-Id` per message, retrying with the
same id through the remaining nodes. The leader's container is stopped, then started again.
Reported: time without a stream leader, publishes that needed a retry, time until the
restarted replica caught up. It passes only when every acknowledged message is in the
stream exactly once and in order, and the restarted node holds the same last sequence.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import docker
from nats.js.api import StorageType

from courtyard import monitor, readiness, runtime
from courtyard.natsclient import connect
from courtyard.workload import (
    RETRYABLE,
    PublishLog,
    create_stream,
    publish_until,
    stream_problems,
)

if TYPE_CHECKING:
    from courtyard.smoke import Smoke

WARM_UP_ACKS = 50
ACKS_UNDER_NEW_LEADER = 100
PHASE_TIMEOUT = 60.0


class FailoverFailed(Exception):
    pass


async def _wait(condition, what: str, timeout: float = PHASE_TIMEOUT) -> float:
    """Poll `condition()` (async) until true; returns the seconds it took."""
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > timeout:
            raise FailoverFailed(f"gave up after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def _last_seq_on(port: int, stream: str) -> int | None:
    reply = monitor.get(port, "/jsz?streams=true")
    if not isinstance(reply.body, dict):
        return None
    for account in reply.body.get("account_details") or []:
        for detail in account.get("stream_detail") or []:
            if detail.get("name") == stream:
                return (detail.get("state") or {}).get("last_seq")
    return None


async def run_failover(smoke: Smoke, client: docker.DockerClient) -> dict[str, Any]:
    from courtyard.smoke import CheckFailed

    project, names = smoke.project, smoke.project.names
    if project.spec.replicas < 3:
        raise CheckFailed("failover needs at least 3 nodes so that a quorum survives")
    stream, subject = f"SMOKE_FO_{smoke.tag}", f"smoke.{smoke.tag}.fo"
    admin = await connect(project, name="courtyard-failover-admin", allow_reconnect=True,
                          max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    publisher = await connect(project, name="courtyard-failover-publisher", allow_reconnect=True,
                              max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    log, stop = PublishLog(), asyncio.Event()
    container = None  # the stopped node, started again in `finally` if a step failed
    try:
        admin_js = admin.jetstream(timeout=1)
        await create_stream(admin_js, name=stream, subjects=[f"{subject}.>"],
                            storage=StorageType.FILE, num_replicas=3, duplicate_window=300)
        smoke.streams.append(stream)
        task = asyncio.create_task(publish_until(publisher.jetstream(), f"{subject}.x",
                                                 stop.is_set, log))

        async def acked_at_least(count: int):
            if task.done():
                task.result()  # raises the publisher's error
            return len(log.acked) >= count

        await _wait(lambda: acked_at_least(WARM_UP_ACKS), "the first acks")
        old_leader = (await admin_js.stream_info(stream)).cluster.leader
        container = runtime.get_container(client, old_leader)
        stopped_at = time.monotonic()
        await asyncio.to_thread(container.stop, timeout=10)

        async def new_leader() -> bool:
            try:
                info = await admin_js.stream_info(stream)
            except RETRYABLE:
                return False
            return bool(info.cluster and info.cluster.leader
                        and info.cluster.leader != old_leader)

        await _wait(new_leader, "a new stream leader")
        leaderless = time.monotonic() - stopped_at
        after = len(log.acked)
        await _wait(lambda: acked_at_least(after + ACKS_UNDER_NEW_LEADER),
                    "publishes under the new leader")
        await asyncio.to_thread(container.start)
        started_at = time.monotonic()
        index = names.pods.index(old_leader)
        port = project.spec.host_ports.monitor + index

        async def caught_up() -> bool:
            try:
                info = await admin_js.stream_info(stream)
            except RETRYABLE:
                return False
            replica = next((r for r in info.cluster.replicas or [] if r.name == old_leader),
                           None)
            if replica is None or not replica.current:
                return False
            last = await asyncio.to_thread(_last_seq_on, port, stream)
            return last is not None and last >= info.state.last_seq

        await _wait(caught_up, f"{old_leader} to catch up")
        catch_up = time.monotonic() - started_at
        stop.set()
        await task
        final = await admin_js.stream_info(stream)
        await _wait(lambda: asyncio.to_thread(lambda: _last_seq_on(port, stream)
                                              == final.state.last_seq),
                    f"{old_leader} to hold the last sequence")
        problems = await stream_problems(admin_js, stream, log)
        if problems:
            raise CheckFailed("; ".join(problems))
        targets = [(pod, project.spec.host_ports.monitor + i) for i, pod in enumerate(names.pods)]
        state = await asyncio.to_thread(readiness.wait_for_cluster, project, targets,
                                        PHASE_TIMEOUT)
        if not state.ready:
            raise CheckFailed(f"cluster not ready after the failover: {state.problems[0]}")
    except FailoverFailed as exc:
        raise CheckFailed(str(exc)) from None
    finally:
        stop.set()
        if container is not None:
            container.reload()
            if container.status != "running":
                await asyncio.to_thread(container.start)
        for nc in (publisher, admin):
            await nc.close()
    return {
        "stopped_node": old_leader,
        "leaderless_seconds": round(leaderless, 3),
        "retried_publishes": log.retried,
        "failed_attempts": log.failed_attempts,
        "catch_up_seconds": round(catch_up, 3),
        "acked": len(log.acked),
        "last_seq": final.state.last_seq,
        "summary": (f"stopped {old_leader}: {leaderless:.2f}s without a stream leader, "
                    f"{log.retried} publishes retried, caught up {catch_up:.2f}s after restart; "
                    f"{len(log.acked)} acked messages all present once, in order"),
    }

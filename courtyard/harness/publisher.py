"""The one acknowledged publisher: it never loses an acknowledged message, and proves it.

Each message carries a `Nats-Msg-Id`; a publish that fails (no leader, node gone, timeout) is
retried with the same id, so the stream's duplicate window keeps it exactly once. Every
drill, the smoke's failover, the upgrade rehearsal and the benchmarks publish through
`AckedPublisher`, wait with `acked_at_least` and count with `lost_messages`, so they all
judge a run by the same rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nats.js.api import StorageType
from nats.js.client import JetStreamContext

from courtyard.checks.workload import RETRYABLE, create_stream
from courtyard.core.polling import any_answer, poll_async
from courtyard.project.loaded import Project
from courtyard.servers.natsclient import connect

WARM_UP_ACKS = 100
AFTER_ACKS = 100  # acknowledgements wanted after a fault, before the publisher stops
ACK_WAIT = 120.0  # how long a wait for acknowledgements may take
RECONNECTING = {
    "allow_reconnect": True,
    "max_reconnect_attempts": -1,
    "reconnect_time_wait": 0.1,
    # A paused node answers nothing; two missed pings a second apart move the client on.
    "ping_interval": 1,
    "max_outstanding_pings": 2,
}


@dataclass
class PublishLog:
    acked: list[tuple[int, int]] = field(default_factory=list)  # (message index, stream seq)
    retried: int = 0  # publishes that needed at least one retry
    failed_attempts: int = 0
    ack_times: list[float] = field(default_factory=list)  # time.monotonic() of each ack

    def longest_gap(self) -> float:
        """The longest time between two acknowledgements in a row (seconds)."""
        return max((b - a for a, b in itertools.pairwise(self.ack_times)), default=0.0)


@dataclass
class LoadReport:
    """What a publisher saw while something happened to the cluster, and what was lost."""

    acked: int = 0
    lost: int = 0
    problems: list[str] = field(default_factory=list)
    longest_gap: float = 0.0
    disconnects: int = 0
    samples: int = 0  # cluster samples taken while it ran (drills.run_under_load)
    broken: list[str] = field(default_factory=list)  # samples without full mesh or leader


async def publish_until(
    js: JetStreamContext,
    subject: str,
    done: Callable[[], bool],
    log: PublishLog,
    *,
    attempt_timeout: float = 1.0,
    give_up_after: float = 60.0,
) -> None:
    """Publish message 0, 1, 2, ... until `done()`; each one retried until acknowledged."""
    index = 0
    while not done():
        attempts = 0

        async def attempt(payload: bytes = str(index).encode(), msg_id: str = f"msg-{index}"):
            nonlocal attempts
            attempts += 1
            return await js.publish(
                subject, payload, timeout=attempt_timeout, headers={"Nats-Msg-Id": msg_id}
            )

        ack = await poll_async(
            attempt,
            what=f"an acknowledgement of message {index}",
            timeout=give_up_after,
            not_yet=RETRYABLE,
            done=any_answer,
        )
        log.failed_attempts += attempts - 1
        log.retried += attempts > 1
        log.acked.append((index, ack.seq))
        log.ack_times.append(time.monotonic())
        index += 1


async def acked_at_least(
    log: PublishLog,
    count: int,
    *,
    task: asyncio.Task | None = None,
    what: str = "",
    timeout: float = ACK_WAIT,
) -> None:
    """Wait until `count` publishes are acknowledged; the publisher's own error (`task`)
    is raised at once instead of waiting out the timeout."""

    async def enough() -> bool:
        if task is not None and task.done():
            task.result()
        return len(log.acked) >= count

    await poll_async(
        enough, what=what or f"{count} acknowledged publishes", timeout=timeout, interval=0.05
    )


async def lost_messages(js: JetStreamContext, stream: str, log: PublishLog) -> tuple[int, list]:
    """The rule every run is judged by: how many acknowledged messages the stream lacks or
    holds wrongly (lost), and every problem seen (duplicates, gaps in the order included)."""

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
        problems.append(
            f"stream holds {info.state.messages} messages, {len(log.acked)} were acknowledged"
        )
    sequences = [seq for _, seq in log.acked]
    if sequences != sorted(set(sequences)):
        problems.append("acknowledged sequences are not strictly increasing")
    return lost, problems[:10]


class AckedPublisher:
    """An R3 file stream and one reconnecting publisher that sends into it until stopped,
    each message with its own `Nats-Msg-Id` and retried until acknowledged; counts the
    client's disconnects. `async with` creates the stream, starts publishing and waits for
    the first acknowledgements; leaving deletes the stream and closes the connections."""

    def __init__(
        self, project: Project, kind: str = "drill", *, warm_up: int = WARM_UP_ACKS
    ) -> None:
        self.project, self.warm_up = project, warm_up
        tag = secrets.token_hex(3).upper()
        self.stream, self.subject = f"{kind.upper()}_{tag}", f"{kind}.{tag}"
        self.log, self.stopped = PublishLog(), asyncio.Event()
        self.disconnects = 0
        self.task: asyncio.Task | None = None
        self.admin = self.publisher = None

    async def _disconnected(self) -> None:
        self.disconnects += 1

    @property
    def js(self) -> JetStreamContext:
        return self.admin.jetstream(timeout=2)

    async def __aenter__(self) -> AckedPublisher:
        self.admin = await connect(self.project, role="load-admin", **RECONNECTING)
        self.publisher = await connect(
            self.project,
            role="load-publisher",
            disconnected_cb=self._disconnected,
            **RECONNECTING,
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
            give_up_after=ACK_WAIT,
        )
        self.task = asyncio.create_task(publishing)
        await self.more(self.warm_up, "the first acknowledgements")
        return self

    @property
    def acked(self) -> int:
        return len(self.log.acked)

    async def more(self, count: int = AFTER_ACKS, what: str = "") -> None:
        """Wait for `count` more acknowledgements: the publisher goes on after a fault."""
        await acked_at_least(self.log, self.acked + count, task=self.task, what=what)

    async def leader(self) -> str:
        """The server name of the stream's leader now."""
        return (await self.js.stream_info(self.stream)).cluster.leader

    async def stop(self) -> None:
        self.stopped.set()
        if self.task is not None:
            await self.task

    async def verify(self) -> tuple[int, list[str]]:
        return await lost_messages(self.js, self.stream, self.log)

    async def finish(self, report: LoadReport) -> None:
        """Stop publishing; record in `report` what the publisher saw and what was lost."""
        await self.stop()
        report.acked = self.acked
        report.longest_gap = self.log.longest_gap()
        report.disconnects = self.disconnects
        report.lost, report.problems = await self.verify()

    async def __aexit__(self, *exc_info: object) -> None:
        self.stopped.set()
        if self.task is not None and not self.task.done():
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        with contextlib.suppress(Exception):  # the cluster may be what failed
            await self.js.delete_stream(self.stream)
        for nc in (self.publisher, self.admin):
            if nc is not None:
                with contextlib.suppress(Exception):
                    await nc.close()

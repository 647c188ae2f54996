"""A JetStream publisher that never loses an acknowledged message, and the check that proves it.

Each message carries a `Nats-Msg-Id`; a publish that fails (no leader, node gone, timeout) is
retried with the same id, so the stream's duplicate window keeps it exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.client import JetStreamContext
from nats.js.errors import Error as JetStreamError
from nats.js.errors import NoStreamResponseError, ServiceUnavailableError

from courtyard.core.polling import any_answer, poll_async

T = TypeVar("T")
RETRYABLE = (NatsError, JetStreamError, TimeoutError, asyncio.TimeoutError, OSError)


@dataclass
class PublishLog:
    acked: list[tuple[int, int]] = field(default_factory=list)  # (message index, stream seq)
    retried: int = 0  # publishes that needed at least one retry
    failed_attempts: int = 0
    ack_times: list[float] = field(default_factory=list)  # time.monotonic() of each ack

    def longest_gap(self) -> float:
        """The longest time between two acknowledgements in a row (seconds)."""
        return max((b - a for a, b in itertools.pairwise(self.ack_times)), default=0.0)


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


async def stream_problems(js: JetStreamContext, stream: str, log: PublishLog) -> list[str]:
    """Every acknowledged message is in the stream exactly once and in order."""
    info = await js.stream_info(stream)
    problems = []
    if info.state.messages != len(log.acked):
        problems.append(
            f"stream holds {info.state.messages} messages, {len(log.acked)} were acknowledged"
        )
    for expected_index, seq in ((i, s) for i, s in log.acked):
        message = await js.get_msg(stream, seq)
        if message.data != str(expected_index).encode():
            problems.append(f"seq {seq} holds {message.data!r}, expected message {expected_index}")
            break
    sequences = [seq for _, seq in log.acked]
    if sequences != sorted(set(sequences)):
        problems.append("acknowledged sequences are not strictly increasing")
    return problems


async def until_reachable(
    call: Callable[[], Awaitable[T]],
    *,
    timeout: float = 10.0,
    also: tuple[type[BaseException], ...] = (),
    what: str = "the stream to answer",
) -> T:
    """Run `call`, retrying while a new stream's interest has not crossed the routes.

    Right after a stream (or KV bucket) is created with its leader on another node, this
    node may not know its subjects yet and answers "no responders" (503; a JetStream publish
    reports it as "no response from stream"); nothing is stored then, so retrying cannot
    duplicate.
    """
    return await poll_async(
        call,
        what=what,
        timeout=timeout,
        interval=0.02,
        not_yet=(NoRespondersError, NoStreamResponseError, ServiceUnavailableError, *also),
        done=any_answer,
    )


async def publish_once_reachable(js: JetStreamContext, subject: str, payload: bytes) -> int:
    """Publish one message once the stream is reachable; returns its stream sequence."""
    ack = await until_reachable(lambda: js.publish(subject, payload, timeout=2))
    return ack.seq


async def create_stream(js: JetStreamContext, **config) -> None:
    """Create a stream, retrying an unanswered or unavailable request for up to 60 s.

    Creating a stream with the same configuration twice is accepted by JetStream, so a
    request whose answer was lost (slow election on a busy machine) is safely sent again.
    """
    await until_reachable(
        lambda: js.add_stream(**config),
        timeout=60.0,
        also=(NatsTimeoutError, asyncio.TimeoutError),
        what=f"stream {config.get('name')} to be created",
    )


async def create_bucket(js: JetStreamContext, **config):
    """Create a KV bucket with the same retries as create_stream."""
    return await until_reachable(
        lambda: js.create_key_value(**config),
        timeout=60.0,
        also=(NatsTimeoutError, asyncio.TimeoutError),
        what=f"bucket {config.get('bucket')} to be created",
    )

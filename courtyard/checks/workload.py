"""JetStream calls that ride out a cluster still settling: creating streams and buckets,
and first publishes, retried while a new stream's interest has not crossed the routes.

The acknowledged publisher that every drill and benchmark uses is the harness's
(`courtyard/harness/publisher.py`); this is what checks themselves need.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.client import JetStreamContext
from nats.js.errors import APIError, NoStreamResponseError, ServiceUnavailableError
from nats.js.errors import Error as JetStreamError

from courtyard.core.polling import any_answer, poll_async

T = TypeVar("T")
RETRYABLE = (NatsError, JetStreamError, TimeoutError, asyncio.TimeoutError, OSError)
DUPLICATE_IN_PROCESS = 10158  # JetStream: "duplicate message id is in process"


class _InProcess(Exception):
    """A retry arrived while the stream still stores the first try of the same message id."""


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
    reports it as "no response from stream"). A publish retried here carries a message id
    (`publish_once_reachable`): a team's publish was seen answered so and stored anyway.
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
    """Publish one message once the stream is reachable; returns its stream sequence. The
    retries carry one message id, so a publish answered "no responders" that was stored all
    the same (seen for a team's publish, whose subjects also cross to the shared account) is
    not stored twice."""
    once = {"Nats-Msg-Id": uuid.uuid4().hex}

    async def publish():
        try:
            return await js.publish(subject, payload, timeout=2, headers=once)
        except APIError as exc:  # the first try is still being stored: ask again
            if exc.err_code == DUPLICATE_IN_PROCESS:
                raise _InProcess from None
            raise

    ack = await until_reachable(publish, also=(_InProcess,))
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

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
from nats.js.errors import Error as JetStreamError
from nats.js.errors import NoStreamResponseError, ServiceUnavailableError

from courtyard.core.polling import any_answer, poll_async

T = TypeVar("T")
RETRYABLE = (NatsError, JetStreamError, TimeoutError, asyncio.TimeoutError, OSError)


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
    reports it as "no response from stream"): nothing was delivered, so nothing was stored,
    and the call is safely made again.
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
    """Publish one message once the stream is reachable; returns its stream sequence. Only a
    "no responders" answer is retried (the message reached no stream), so a sequence other
    than the one expected means the message was stored twice."""
    ack = await until_reachable(lambda: js.publish(subject, payload, timeout=2))
    return ack.seq


async def publish_until_stored(
    js: JetStreamContext, subject: str, payload: bytes, *, timeout: float = 10.0
):
    """Publish one message to a stream made a moment ago, until it is acknowledged.

    A stream of another account is reached through the hub's bridges: before its interest
    has crossed the routes to this node, a publish that some other subscriber received is
    not answered "no responders" but not at all. Each try waits a second and carries one
    message id, so a try that was stored but whose acknowledgement was late is not stored
    twice."""
    once = {"Nats-Msg-Id": uuid.uuid4().hex}
    return await until_reachable(
        lambda: js.publish(subject, payload, timeout=1, headers=once),
        timeout=timeout,
        also=(NatsTimeoutError, asyncio.TimeoutError),
        what=f"a stream to acknowledge {subject}",
    )


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

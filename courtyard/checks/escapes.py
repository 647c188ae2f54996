"""A team's streams stay in its account: the five ways a restricted identity could make its
own stream reach past its lists, each tried for real as that identity.

Subject permissions bound what a user publishes and subscribes, not what its streams do
as the server (`artefacts/authorization.py`), so each restricted identity has an account
of its own. The probe creates one of the identity's own streams (in memory, one replica)
five times with a hostile configuration, and shows each going nowhere:

1. `sources: [<foreign stream>]` and 2. `mirror: <foreign stream>`: nothing is copied
   within five times what an admin's source of the same stream takes in the shared account
   (the control, run first), and at least `ABSENCE_WINDOW`; a single server also reports
   the source as not found, a cluster does not say;
3. `subjects: [<foreign subject>.captured.>, _INBOX.>, ...]`: the shared account's messages on those
   subjects, an admin's reply among them, are not captured, while a marker on a subject the
   identity may subscribe to, published after them by the same connection, is;
4. a republish to `<foreign subject>.forged` and 5. a push consumer delivering to
   `<foreign subject>.forged2`: an admin subscribed there receives nothing, while the
   identity's own publish that fed the stream does reach it.

These prove an absence: after the positive event (the publish acknowledged, its copy
seen by the admin; the consumer created), nothing may arrive for `ABSENCE_WINDOW` seconds.
A probe never touches a stream that exists: when all of the identity's streams (its
buckets' included) do, it says so instead of trying. With two free ones, the attempts run
two at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, RePublish, StorageType, StreamSource
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from courtyard.artefacts.authorization import bucket_stream
from courtyard.checks.outcome import CheckFailed
from courtyard.checks.workload import create_stream, publish_until_stored
from courtyard.core.polling import WaitTimeout, poll_async
from courtyard.project import naming
from courtyard.project.loaded import Project
from courtyard.project.model import ClientIdentity
from courtyard.project.subjects import example_subject, subject_matches
from courtyard.servers.natsclient import connect

T = TypeVar("T")

ANSWER_TIMEOUT = 5.0
ABSENCE_WINDOW = 1.0
WINDOW_FACTOR = 5


@dataclass
class Target:
    """What the identity must not reach: a stream of the shared account that holds at least
    one message, and a subject prefix it may neither publish nor subscribe to."""

    stream: str
    subject: str


async def _free_streams(js: JetStreamContext, identity: ClientIdentity) -> list[str]:
    """The identity's streams (its buckets' included) that do not exist yet: the probe's two
    first ones run the attempts side by side."""
    free = []
    for name in (*identity.streams, *(bucket_stream(b) for b in identity.buckets)):
        try:
            await js.stream_info(name)
        except NotFoundError:
            free.append(name)
    return free


async def _both(*attempts: Awaitable[T]) -> list[T]:
    """Run the attempts side by side; the first failure is raised once all have ended."""
    results = await asyncio.gather(*attempts, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)


def _listed(identity: ClientIdentity, subject: str) -> bool:
    return any(
        subject_matches(pattern, subject) for pattern in (*identity.publish, *identity.subscribe)
    )


class _Inbox:
    """What arrives on the admin's subscriptions (`record` is their callback)."""

    def __init__(self) -> None:
        self.got: list[str] = []

    async def record(self, msg: Msg) -> None:
        self.got.append(msg.subject)


async def _absent(what: str, arrived) -> bool:
    """True when `arrived()` stays false for the whole window."""
    try:
        await poll_async(arrived, what=what, timeout=ABSENCE_WINDOW, interval=0.05, done=bool)
    except WaitTimeout:
        return True
    return False


class EscapeProbe:
    def __init__(
        self, project: Project, identity: ClientIdentity, admin: Client, target: Target, tag: str
    ) -> None:
        self.project, self.identity, self.admin = project, identity, admin
        self.target, self.tag = target, tag
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.streams: list[str] = []  # the identity's own streams the probe uses

    async def run(self) -> str:
        if _listed(self.identity, f"{self.target.subject}.x"):
            return f"not tried: {self.identity.name}'s lists cover {self.target.subject}.>"
        self.nc = await connect(
            self.project,
            identity=self.identity.name,
            role=f"escapes-{self.identity.name}",
            inbox_prefix=naming.inbox_prefix(self.identity.name),
        )
        self.js = self.nc.jetstream()
        try:
            self.streams = (await _free_streams(self.js, self.identity))[:2]
            if not self.streams:
                return (
                    f"not tried: {self.identity.name}'s streams and buckets exist or none is "
                    "listed, and an existing stream is left alone"
                )
            done = await self._attempts(*self.streams)
        finally:
            for stream in self.streams:
                await self._drop(stream)
            await self.nc.close()
        return "; ".join(done)

    async def _attempts(self, first: str, second: str | None = None) -> list[str]:
        """All five, side by side on two streams when the identity has two free ones."""
        control = await self._control_copy()
        window = max(ABSENCE_WINDOW, WINDOW_FACTOR * control)
        done = [f"control: an admin's source copies {self.target.stream} in {control:.2f}s"]
        if second:
            done += await _both(
                self._copy("sources", window, first), self._copy("mirror", window, second)
            )
        else:
            done += [
                await self._copy("sources", window, first),
                await self._copy("mirror", window, first),
            ]
        marked = await self._capture(first)
        done.append(marked)
        if not self.identity.publish:
            return [*done, "republish and push delivery: not tried (it may publish nothing)"]
        return [*done, *await self._forward(first, second, holds_marker="the marker" in marked)]

    async def _create(self, stream: str, **config) -> None:
        await self._drop(stream)
        await create_stream(
            self.js, name=stream, storage=StorageType.MEMORY, num_replicas=1, **config
        )

    async def _drop(self, stream: str) -> None:
        with contextlib.suppress(NotFoundError):
            await self.js.delete_stream(stream)

    async def _control_copy(self) -> float:
        """How long a source of the foreign stream takes to copy it within the shared account
        (an admin's stream): sourcing works on this cluster, and the window for the team's
        attempts is `WINDOW_FACTOR` times that (at least `ABSENCE_WINDOW`)."""
        ajs = self.admin.jetstream()
        name = (
            f"{self.target.stream}_CONTROL_{self.identity.name}"  # one per team: they run at once
        )
        started = time.monotonic()
        await create_stream(
            ajs,
            name=name,
            storage=StorageType.MEMORY,
            num_replicas=1,
            sources=[StreamSource(name=self.target.stream)],
        )
        try:

            async def copied() -> int:
                return (await ajs.stream_info(name)).state.messages

            await poll_async(
                copied, what=f"{name} to copy {self.target.stream}", timeout=ANSWER_TIMEOUT
            )
        finally:
            with contextlib.suppress(NotFoundError):
                await ajs.delete_stream(name)
        return time.monotonic() - started

    async def _copy(self, how: str, window: float, stream: str) -> str:
        """`sources` or `mirror` naming the foreign stream: nothing copied within `window`
        (the server may also report the source as not found: it is in another account)."""
        source = StreamSource(name=self.target.stream)
        await self._create(
            stream, **({"sources": [source]} if how == "sources" else {"mirror": source})
        )
        said: list[str] = []

        async def copied() -> bool:
            info = await self.js.stream_info(stream)
            found = info.mirror if how == "mirror" else (info.sources or [None])[0]
            if found is not None and found.error and not said:
                said.append(str(found.error.get("description") or found.error))
            return info.state.messages > 0 or bool(said)

        try:
            await poll_async(copied, what=f"{stream}'s {how}", timeout=window, interval=0.05)
        except WaitTimeout:
            return f"{how} {self.target.stream}: nothing copied in {window:.1f}s"
        if not said:
            raise CheckFailed(f"{how} {self.target.stream}: COPIED into {stream}")
        return f"{how} {self.target.stream}: {said[0]}, nothing copied"

    async def _capture(self, stream: str) -> str:
        """A stream on foreign subjects and _INBOX.> captures nothing of the shared account's;
        the marker, published after them on a subject it may subscribe to, arrives."""
        foreign = f"{self.target.subject}.captured.1"
        reply = self.admin.new_inbox()
        marker = ready = None
        if self.identity.subscribe:
            marker = example_subject(self.identity.subscribe[0], f"escapes-{self.tag}-marker")
            ready = example_subject(self.identity.subscribe[0], f"escapes-{self.tag}-ready")
        # Not the forged subjects below: a push consumer may not deliver into its own stream.
        captured = f"{self.target.subject}.captured.>"
        subjects = [captured, "_INBOX.>", *([marker, ready] if marker else [])]
        await self._create(stream, subjects=subjects)

        async def per_subject() -> dict[str, int]:
            info = await self.js.stream_info(stream, subjects_filter=">")
            return dict(info.state.subjects or {})

        if ready:
            # The stream's interest crosses the bridge and the routes to the admin's server a
            # moment after it is made: until then the admin's marker would go nowhere.
            async def bridged() -> bool:
                await self.admin.publish(ready, b"ready")
                await self.admin.flush()
                return ready in await per_subject()

            await poll_async(
                bridged, what=f"{stream} to receive {ready}", timeout=ANSWER_TIMEOUT, interval=0.1
            )
        await self.admin.publish(foreign, b"another team's")
        await self.admin.publish(reply, b"an admin's reply")
        if marker:
            await self.admin.publish(marker, b"marker")
        await self.admin.flush()

        async def stored() -> int:
            return (await self.js.stream_info(stream)).state.messages

        what = f"subjects {captured}, _INBOX.>"
        if marker:
            counts = await poll_async(
                per_subject,
                what=f"the marker in {stream}",
                timeout=ANSWER_TIMEOUT,
                interval=0.05,
                done=lambda counts: marker in counts,
            )
            others = sum(n for subject, n in counts.items() if subject not in (marker, ready))
            if others:
                raise CheckFailed(f"{what}: {stream} CAPTURED {others} foreign message(s)")
            return f"{what}: nothing captured (the marker on {marker}, sent after, was)"
        if not await _absent(f"a foreign message in {stream}", stored):
            raise CheckFailed(f"{what}: {stream} CAPTURED a foreign message")
        return f"{what}: nothing captured in {ABSENCE_WINDOW:.0f}s"

    async def _forward(self, first: str, second: str | None, *, holds_marker: bool) -> list[str]:
        """A republish and a push consumer aimed at foreign subjects reach no admin; the
        identity's own publish that fed the stream does. With two streams, the push consumer
        runs on the first (holding the marker) while the republish runs on the second."""
        own = example_subject(self.identity.publish[0], f"escapes-{self.tag}")
        marker = example_subject(self.identity.subscribe[0], f"escapes-{self.tag}-marker")
        if holds_marker and marker == own:
            # The capture stream holds `own` too (literal lists): one stream at a time.
            await self._drop(first)
            holds_marker = False
        forged, forged2 = f"{self.target.subject}.forged", f"{self.target.subject}.forged2"
        inbox = _Inbox()
        subscriptions = [
            await self.admin.subscribe(subject, cb=inbox.record)
            for subject in (own, forged, forged2)
        ]
        try:
            await self.admin.flush()
            if second and holds_marker:
                return await _both(
                    self._republish(own, forged, inbox, second), self._push(forged2, inbox, first)
                )
            return [
                await self._republish(own, forged, inbox, first),
                await self._push(forged2, inbox, first),
            ]
        finally:
            for subscription in subscriptions:
                await subscription.unsubscribe()

    async def _republish(self, own: str, forged: str, inbox: _Inbox, stream: str) -> str:
        await self._create(stream, subjects=[own], republish=RePublish(src=own, dest=forged))
        await publish_until_stored(self.js, own, b"fed", timeout=ANSWER_TIMEOUT)

        async def seen_own() -> bool:
            return own in inbox.got

        await poll_async(seen_own, what=f"{own} at the admin", timeout=ANSWER_TIMEOUT)

        async def forged_arrived() -> bool:
            return forged in inbox.got

        if not await _absent(f"{forged} at the admin", forged_arrived):
            raise CheckFailed(f"republish {own} -> {forged}: REACHED the shared account")
        return (
            f"republish -> {forged}: nothing arrived in {ABSENCE_WINDOW:.0f}s (its own {own} did)"
        )

    async def _push(self, forged2: str, inbox: _Inbox, stream: str) -> str:
        """On a stream holding a message, a push consumer delivering to the admin's subject
        sees no interest and delivers nothing."""
        consumer = f"escapes_{self.tag}"
        await self.js.add_consumer(
            stream, ConsumerConfig(durable_name=consumer, deliver_subject=forged2)
        )

        async def delivered() -> bool:
            info = await self.js.consumer_info(stream, consumer)
            return forged2 in inbox.got or bool(info.push_bound) or info.delivered.stream_seq > 0

        if not await _absent(f"{forged2} at the admin", delivered):
            raise CheckFailed(f"push consumer -> {forged2}: DELIVERED to the shared account")
        return (
            f"push consumer -> {forged2}: no interest seen, nothing delivered in "
            f"{ABSENCE_WINDOW:.0f}s"
        )


async def probe_escapes(
    project: Project, identity: ClientIdentity, admin: Client, target: Target, tag: str
) -> str:
    """Try the five escapes as `identity`; the line saying how each went nowhere, or
    CheckFailed naming the one that got through."""
    try:
        return await EscapeProbe(project, identity, admin, target, tag).run()
    except WaitTimeout as exc:
        raise CheckFailed(str(exc)) from None

"""Least privilege, tried for real: each restricted identity connects with its own
certificate, does one allowed thing of each kind, and is refused everything else.

Refusals are the server's own: nats-server answers a forbidden publish or subscription
with `-ERR 'Permissions Violation ...'`, which nats-py hands to the error callback. A probe
waits for that sentence (or for the allowed message to arrive) instead of a fixed time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nats.aio.client import Client
from nats.js.api import StorageType
from nats.js.errors import NotFoundError

from courtyard.artefacts.authorization import ADMIN_PING, bucket_stream, permissions
from courtyard.checks.outcome import CheckFailed, Created
from courtyard.core.polling import WaitTimeout, any_answer, poll_async
from courtyard.project import naming
from courtyard.project.loaded import Project
from courtyard.project.model import ClientIdentity
from courtyard.project.subjects import example_subject, subject_matches
from courtyard.servers.natsclient import connect

ANSWER_TIMEOUT = 3.0


@dataclass
class Refusals:
    """The permission errors the server sent one connection."""

    seen: list[str] = field(default_factory=list)

    async def record(self, error: Exception) -> None:
        self.seen.append(str(error).lower())

    def violated(self) -> bool:
        """True once the server refused this connection anything."""
        return any("permissions violation" in seen for seen in self.seen)

    async def wait_for(self, kind: str, subject: str) -> bool:
        """True once the server refused `kind` ("publish" or "subscription") to `subject`."""
        wanted = f'permissions violation for {kind} to "{subject.lower()}"'

        async def refused() -> bool:
            return any(wanted in seen for seen in self.seen)

        try:
            await poll_async(
                refused,
                what=f"the server to refuse {kind} to {subject}",
                timeout=ANSWER_TIMEOUT,
                interval=0.02,
                done=bool,
            )
        except WaitTimeout:
            return False
        return True


def allowed(patterns: list[str], subject: str) -> bool:
    return any(subject_matches(pattern, subject) for pattern in patterns)


async def connect_as(
    project: Project, identity: ClientIdentity, refusals: Refusals, nodes: list[int] | None = None
) -> Client:
    return await connect(
        project,
        nodes,
        identity=identity.name,
        role=f"smoke-{identity.name}",
        inbox_prefix=naming.inbox_prefix(identity.name),
        error_cb=refusals.record,
    )


async def delivered(sender: Client, receiver: Client, subject: str) -> bool:
    """A message `sender` publishes on `subject` reaches `receiver`'s subscription.

    The two may be on different nodes, and a new subscription takes a moment to cross the
    routes: the message is published again every 0.1 s until one arrives (core messages,
    so a repeat is harmless) or the answer timeout passes.
    """
    subscription = await receiver.subscribe(subject)
    await receiver.flush()

    async def publish_and_listen():
        await sender.publish(subject, b"courtyard smoke")
        await sender.flush()
        return await subscription.next_msg(timeout=0.1)

    try:
        await poll_async(
            publish_and_listen,
            what=f"a message on {subject}",
            timeout=ANSWER_TIMEOUT,
            interval=0.0,
            not_yet=(TimeoutError,),
            done=any_answer,
        )
        return True
    except WaitTimeout:
        return False
    finally:
        await subscription.unsubscribe()


async def refused_request(nc: Client, refusals: Refusals, subject: str) -> bool:
    """A request on `subject` is refused by the server (not merely unanswered)."""
    await nc.publish(subject, b"", reply=nc.new_inbox())
    await nc.flush()
    return await refusals.wait_for("publish", subject)


async def stream_round_trip(nc: Client, stream: str, created: Created) -> str:
    """Its own stream answers; when it does not exist yet, the identity creates and deletes
    it (in memory, one replica). An existing stream is only looked at, never touched."""
    js = nc.jetstream()
    try:
        await js.stream_info(stream)
        return f"stream {stream} info"
    except NotFoundError:
        pass
    await js.add_stream(name=created.stream(stream), storage=StorageType.MEMORY, num_replicas=1)
    await js.delete_stream(stream)
    created.streams.remove(stream)
    return f"stream {stream} created and deleted"


async def probe_identity(
    project: Project,
    identity: ClientIdentity,
    admin: Client,
    foreign_stream: str,
    tag: str,
    created: Created,
    *,
    nodes: list[int] | None = None,
    jetstream: bool = True,
) -> str:
    """One allowed publish, subscribe and stream operation (`jetstream`: when the cluster
    has a JetStream meta leader); every refusal the spec implies. `nodes` limits which
    nodes the identity connects to."""
    refusals = Refusals()
    nc = await connect_as(project, identity, refusals, nodes)
    failed: list[str] = []
    try:
        done = await _what_it_may(nc, admin, identity, tag, created, failed, jetstream)
        refused = await _what_it_may_not(nc, identity, refusals, foreign_stream, tag, failed)
    finally:
        await nc.close()
    if failed:
        raise CheckFailed(f"{identity.name}: NOT as the spec says: {', '.join(failed)}")
    return f"allowed: {', '.join(done) or '-'}; refused: {', '.join(refused)}"


async def _what_it_may(
    nc: Client,
    admin: Client,
    identity: ClientIdentity,
    tag: str,
    created: Created,
    failed: list[str],
    jetstream: bool,
) -> list[str]:
    """The first subject it may publish to and subscribe to, and its first stream: done
    (returned) or, when refused, appended to `failed`."""
    done: list[str] = []
    if identity.publish:
        subject = example_subject(identity.publish[0], f"smoke-{tag}")
        ok = await delivered(nc, admin, subject)
        (done if ok else failed).append(f"publish {subject}")
    if identity.subscribe:
        subject = example_subject(identity.subscribe[0], f"smoke-{tag}")
        ok = await delivered(admin, nc, subject)
        (done if ok else failed).append(f"subscribe {subject}")
    owned = [*identity.streams, *(bucket_stream(b) for b in identity.buckets)]
    if owned and jetstream:
        done.append(await stream_round_trip(nc, owned[0], created))
    return done


async def _what_it_may_not(
    nc: Client,
    identity: ClientIdentity,
    refusals: Refusals,
    foreign_stream: str,
    tag: str,
    failed: list[str],
) -> list[str]:
    """A subject outside its lists, the $SYS ping and another stream's API: refused
    (returned) or, when the server let it through, appended to `failed`."""
    # Its own publish list: its permissions name the bridge subjects its account maps its
    # publishes onto, not the subjects it publishes.
    publish = list(identity.publish)
    subscribe = (permissions(identity) or {}).get("subscribe", {}).get("allow", [])
    refused: list[str] = []
    outside = f"{naming.PREFIX}.smoke.{tag}.outside"
    if not allowed(publish, outside):
        await nc.publish(outside, b"")
        await nc.flush()
        (refused if await refusals.wait_for("publish", outside) else failed).append(
            f"publish {outside}"
        )
    if not allowed(subscribe, outside):
        await nc.subscribe(outside)
        await nc.flush()
        ok = await refusals.wait_for("subscription", outside)
        (refused if ok else failed).append(f"subscribe {outside}")
    for label, subject in (
        ("$SYS server ping", ADMIN_PING),
        (f"info of {foreign_stream}", f"$JS.API.STREAM.INFO.{foreign_stream}"),
        (f"read of {foreign_stream}", f"$JS.API.STREAM.MSG.GET.{foreign_stream}"),
        (f"delete of {foreign_stream}", f"$JS.API.STREAM.DELETE.{foreign_stream}"),
    ):
        ok = await refused_request(nc, refusals, subject)
        (refused if ok else failed).append(label)
    return refused

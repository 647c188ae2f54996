"""Requests to the servers' system account (`$SYS`), as the nats CLI makes them.

`nats server list` sends `$SYS.REQ.SERVER.PING`, `nats server report jetstream` sends
`.PING.JSZ`, `nats server info` `.PING.IDZ` or `$SYS.REQ.SERVER.<id>.VARZ`: every server
that can hear the request answers once, on the reply subject. Only a user of the system
account gets answers; any other account's request finds no responders, and a restricted
user is refused the publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from courtyard.core.errors import CourtyardError
from courtyard.core.polling import WaitTimeout, poll_async
from courtyard.project.loaded import Project
from courtyard.servers.natsclient import connect

SERVER_PING = "$SYS.REQ.SERVER.PING"
STATSZ_PING = "$SYS.REQ.SERVER.PING.STATSZ"
JSZ_PING = "$SYS.REQ.SERVER.PING.JSZ"
IDZ_PING = "$SYS.REQ.SERVER.PING.IDZ"
ANSWER_TIMEOUT = 2.0


def server_varz(server_id: str) -> str:
    """The subject `nats server info ID` asks one server on."""
    return f"$SYS.REQ.SERVER.{server_id}.VARZ"


def system_identity(project: Project, name: str | None = None) -> str:
    """The spec's system identity (`system: true`) named, else its first; one sentence when
    there is none."""
    found = [c.name for c in project.spec.tls.system_identities]
    if name is not None:
        if name not in found:
            raise CourtyardError(
                f"{name!r} is not a system identity of {project.spec.path}; "
                + (f"use one of {', '.join(found)}" if found else "mark one with `system: true`")
            )
        return name
    if not found:
        raise CourtyardError(
            f"{project.spec.path} has no system identity, so nobody may ask the servers; add "
            "`- name: ops` with `system: true` to tls.clients and run `invoke up`"
        )
    return found[0]


async def connect_system(project: Project, identity: str | None = None, **options) -> Client:
    """A connection as the system identity, to every node (it rides out one that is down)."""
    who = system_identity(project, identity)
    return await connect(project, identity=who, role=f"system-{who}", **options)


@dataclass(frozen=True)
class Answer:
    server: str  # the answering server's name
    body: dict[str, Any]  # the whole answer: {"server": {...}, "data"|"statsz": {...}}

    @property
    def data(self) -> dict[str, Any]:
        return self.body.get("data") or self.body.get("statsz") or {}


async def ping(
    nc: Client,
    subject: str,
    *,
    expected: int,
    options: dict[str, Any] | None = None,
    timeout: float = ANSWER_TIMEOUT,
) -> list[Answer]:
    """Every server's answer to a `$SYS` ping: until `expected` servers answered, or
    `timeout` passed since the request (a server that is down never answers)."""
    inbox = nc.new_inbox()
    subscription = await nc.subscribe(inbox)
    answers: dict[str, Answer] = {}
    try:
        payload = json.dumps(options).encode() if options else b""
        await nc.publish(subject, payload, reply=inbox)
        deadline = time.monotonic() + timeout
        while len(answers) < expected:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                message = await subscription.next_msg(timeout=left)
            except (TimeoutError, NatsTimeoutError):
                break
            try:
                body = json.loads(message.data)
            except ValueError:
                continue
            if not isinstance(body, dict):
                continue
            # Most answers carry the server in "server"; IDZ is the server's id itself.
            name = (body.get("server") or {}).get("name") or body.get("name")
            if name:
                answers[name] = Answer(name, body)
    finally:
        await subscription.unsubscribe()
    return sorted(answers.values(), key=lambda answer: answer.server)


# Removes a server from the JetStream meta group (`nats server raft peer-remove NAME`).
SERVER_REMOVE = "$JS.API.SERVER.REMOVE"


async def remove_peer(nc: Client, *, peer_id: str) -> str | None:
    """Ask the meta leader to forget the peer `peer_id` (a departed server, whose name a
    leader elected later may not know); None when it did, else its error in words."""
    request = json.dumps({"peer": "", "peer_id": peer_id}).encode()
    try:
        message = await nc.request(SERVER_REMOVE, request, timeout=ANSWER_TIMEOUT * 2)
    except (TimeoutError, NatsTimeoutError, NoRespondersError) as exc:
        return f"no answer ({type(exc).__name__})"
    try:
        answer = json.loads(message.data)
    except ValueError:
        return "an answer that is not JSON"
    if isinstance(answer, dict) and answer.get("success") is True:
        return None
    error = (answer.get("error") or {}) if isinstance(answer, dict) else {}
    return str(error.get("description") or "refused without a reason")


# What the smoke and `export-helm --verify` ask: the server list, and JetStream.
PROOF_SUBJECTS = (SERVER_PING, JSZ_PING)


async def who_answers(
    nc: Client, subjects: tuple[str, ...], *, expected: int
) -> dict[str, list[str]]:
    """For each subject, the servers that answered its ping (sorted)."""
    return {
        subject: [answer.server for answer in await ping(nc, subject, expected=expected)]
        for subject in subjects
    }


async def what_others_get(
    nc: Client, subject: str, refused: Callable[[], bool] = lambda: False
) -> str | None:
    """What a client outside the system account gets for a `$SYS` request: "no
    responders", "permission error" (`refused()`: the server said so to the connection's
    error callback, which ends the wait at once), or "no answer"; None when it got an
    answer, which it must not."""
    request = asyncio.ensure_future(nc.request(subject, b"", timeout=ANSWER_TIMEOUT))
    with contextlib.suppress(WaitTimeout):
        await poll_async(
            _finished(request, refused),
            what=f"an answer to {subject}",
            timeout=ANSWER_TIMEOUT + 1,
            interval=0.02,
        )
    if not request.done():
        request.cancel()
        await asyncio.gather(request, return_exceptions=True)
        return "permission error" if refused() else "no answer"
    error = request.exception()
    if isinstance(error, NoRespondersError):
        return "no responders"
    if isinstance(error, (TimeoutError, NatsTimeoutError, asyncio.TimeoutError)):
        return "permission error" if refused() else "no answer"
    if error is not None:
        raise error
    return None


def _finished(request: asyncio.Future, refused: Callable[[], bool]):
    async def finished() -> bool:
        return request.done() or refused()

    return finished

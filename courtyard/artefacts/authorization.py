"""Who may do what: each client certificate maps to a user (`verify_and_map`), users live in
one client account with JetStream, and restricted identities get only what the spec lists.

A restricted identity's `streams` and `buckets` expand to the JetStream API subjects that
create, use and delete exactly those streams (and their consumers); its replies arrive on
its own inbox prefix. Admin identities (plain names in the spec) and Courtyard's own have
full access and may make the `$SYS` requests the system account exports; nobody can log in
to the system account itself. The same block goes into every node's config and into the
Helm values, so the chart enforces what the local cluster does.
"""

from __future__ import annotations

from typing import Any

from courtyard.artefacts.certs import client_name
from courtyard.spec import naming
from courtyard.spec.model import ClientIdentity, Spec

# The server requests an admin may make through the system account: the server list and
# each server's monitoring answers (VARZ, JSZ, ...), from every server at once.
SYSTEM_SERVICES = ("$SYS.REQ.SERVER.PING", "$SYS.REQ.SERVER.PING.*")
JETSTREAM_INFO = "$JS.API.INFO"


def stream_api(stream: str) -> list[str]:
    """What a client sends to create, inspect, read, purge and delete `stream`, and to make,
    use and delete its consumers (acks and flow-control replies included)."""
    api = "$JS.API"
    return [
        *(
            f"{api}.STREAM.{operation}.{stream}"
            for operation in (
                "CREATE",
                "UPDATE",
                "DELETE",
                "INFO",
                "PURGE",
                "MSG.GET",
                "MSG.DELETE",
            )
        ),
        f"{api}.DIRECT.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}.>",
        f"{api}.CONSUMER.CREATE.{stream}",
        f"{api}.CONSUMER.CREATE.{stream}.>",
        f"{api}.CONSUMER.DURABLE.CREATE.{stream}.*",
        *(f"{api}.CONSUMER.{operation}.{stream}.*" for operation in ("INFO", "DELETE", "MSG.NEXT")),
        f"{api}.CONSUMER.NAMES.{stream}",
        f"{api}.CONSUMER.LIST.{stream}",
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]


def bucket_stream(bucket: str) -> str:
    """The stream JetStream keeps a key-value bucket in."""
    return f"KV_{bucket}"


def bucket_api(bucket: str) -> list[str]:
    return [*stream_api(bucket_stream(bucket)), f"$KV.{bucket}.>"]


def permissions(identity: ClientIdentity) -> dict[str, Any] | None:
    """The server's permissions block for a restricted identity; None for full access."""
    if not identity.restricted:
        return None
    publish = list(identity.publish)
    if identity.streams or identity.buckets:
        publish.append(JETSTREAM_INFO)
    for stream in identity.streams:
        publish += stream_api(stream)
    for bucket in identity.buckets:
        publish += bucket_api(bucket)
    subscribe = [*identity.subscribe, f"{naming.inbox_prefix(identity.name)}.>"]
    return {
        "publish": {"allow": publish} if publish else {"deny": [">"]},
        "subscribe": {"allow": subscribe},
        "allow_responses": True,
    }


def identities(spec: Spec) -> list[ClientIdentity]:
    """The spec's identities and Courtyard's own (full access)."""
    return [*spec.tls.clients, ClientIdentity(naming.RESERVED_IDENTITY)]


def user(spec: Spec, identity: ClientIdentity) -> dict[str, Any]:
    entry: dict[str, Any] = {"user": client_name(spec, identity.name).to_x509().rfc4514_string()}
    rights = permissions(identity)
    if rights is not None:
        entry["permissions"] = rights
    return entry


def accounts(spec: Spec) -> dict[str, Any]:
    """The `accounts` block: the system account, and the client account with every user."""
    return {
        naming.SYSTEM_ACCOUNT: {
            "exports": [{"service": s, "response_type": "stream"} for s in SYSTEM_SERVICES],
        },
        naming.CLIENT_ACCOUNT: {
            "jetstream": "enabled",
            "users": [user(spec, identity) for identity in identities(spec)],
            "imports": [
                {"service": {"account": naming.SYSTEM_ACCOUNT, "subject": s}}
                for s in SYSTEM_SERVICES
            ],
        },
    }


def rights(identity: ClientIdentity) -> str:
    """What the identity may do, in one line (`invoke certs --show`)."""
    if identity.name == naming.RESERVED_IDENTITY:
        return "full access: Courtyard's own (readiness, status, smoke)"
    if not identity.restricted:
        return "full access, and $SYS server requests (an admin)"
    parts = [
        f"{label} {', '.join(items) or '-'}"
        for label, items in (
            ("publish", identity.publish),
            ("subscribe", identity.subscribe),
            ("streams", identity.streams),
            ("buckets", identity.buckets),
        )
    ]
    return "; ".join(parts) + f"; replies on {naming.inbox_prefix(identity.name)}.>"

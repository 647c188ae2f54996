"""Who may do what: each client certificate maps to a user (`verify_and_map`), and
restricted identities get only what the spec lists.

The users live in the global account, where JetStream is on and where streams made before
Courtyard had users still are: adding users never hides data, and a rolling update from a
config without users keeps its routes (both sides know the same accounts). A restricted
identity's `streams` and `buckets` expand to the JetStream API subjects that create, use and
delete exactly those streams (and their consumers); its replies arrive on its own inbox
prefix. Admin identities (plain names in the spec) and Courtyard's own have full access to
the global account. System identities (`system: true`) are the users of the system account,
`$SYS`: they make the requests `nats server list/ping/info/report` send, and reach no
application subject; nobody else can log in there. The route and server certificates map
to no user at all. The same block goes into every node's config and into the Helm values,
so the chart enforces what the local cluster does.
"""

from __future__ import annotations

from typing import Any

from courtyard.artefacts.certs import client_name
from courtyard.project import naming
from courtyard.project.model import ClientIdentity, Spec

# The `$SYS` request every account may send (each server answers with that account's
# connections): restricted identities may not send even that.
ADMIN_PING = "$SYS.REQ.SERVER.PING.CONNZ"
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


def application_identities(spec: Spec) -> list[ClientIdentity]:
    """The users of the global account: every identity but the system ones."""
    return [identity for identity in identities(spec) if not identity.system]


def user(spec: Spec, identity: ClientIdentity) -> dict[str, Any]:
    entry: dict[str, Any] = {"user": client_name(spec, identity.name).to_x509().rfc4514_string()}
    rights = permissions(identity)
    if rights is not None:
        entry["permissions"] = rights
    return entry


def users(spec: Spec) -> list[dict[str, Any]]:
    """One user of the global account per identity, named by its certificate's subject."""
    return [user(spec, identity) for identity in application_identities(spec)]


def system_users(spec: Spec) -> list[dict[str, Any]]:
    """The system account's users: one per system identity."""
    return [user(spec, identity) for identity in spec.tls.system_identities]


def system_account(spec: Spec) -> dict[str, Any]:
    """The `accounts` block: nats-server's own system account, with its users when the spec
    has system identities."""
    users_of_sys = system_users(spec)
    return {naming.SYSTEM_ACCOUNT: {"users": users_of_sys} if users_of_sys else {}}


def server_config(spec: Spec) -> dict[str, Any]:
    """The `authorization` block and the system account, as every node's config holds them."""
    return {
        "authorization": {"users": users(spec)},
        "accounts": system_account(spec),
        "system_account": naming.SYSTEM_ACCOUNT,
    }


def rights(identity: ClientIdentity) -> str:
    """What the identity may do, in one line (`invoke certs --show`)."""
    if identity.name == naming.RESERVED_IDENTITY:
        return "full access: Courtyard's own (readiness, status, smoke)"
    if identity.system:
        return "the system account: $SYS server requests (nats server list, report), nothing else"
    if not identity.restricted:
        return "full access to the application subjects, streams and buckets (an admin)"
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


def system_account_config(spec: Spec) -> dict[str, Any]:
    """What the 0.x chart includes from its extra config: the system account with its
    users, named as the system account (that chart's own `auth.basic.accounts` would write
    an empty `authorization {}` after the users, which nats-server takes as no users)."""
    return {"accounts": system_account(spec), "system_account": naming.SYSTEM_ACCOUNT}

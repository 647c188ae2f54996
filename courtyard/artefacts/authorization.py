"""Who may do what: each client certificate maps to a user (`verify_and_map`), and
restricted identities get only what the spec lists.

Subject permissions cannot bound what an identity configures on its own streams (sources,
mirrors, captured subjects, republish and push delivery run as the server, not as the
user), so each restricted identity is a team with an account of its own, JetStream
included: whatever its streams do stays inside that account. The account's only bridges
are explicit: a service import of each `publish` pattern (its publishes reach the shared
account) and a stream import of each `subscribe` pattern (the shared account's messages
reach it), each exported by the shared account to exactly the teams that list it. Within
its account the identity's user is still limited to its lists, its own streams and buckets
(the JetStream API subjects that create, use and delete exactly those) and its own inbox.

Admins (plain names in the spec) and Courtyard's own identity then share the account
`APP`: the global account can neither export nor import. A spec without restricted
identities keeps its users in the global account, where streams made before Courtyard had
users still are. System identities (`system: true`) are the users of the system account,
`$SYS`: they make the requests `nats server list/ping/info/report` send, and reach no
application subject; nobody else can log in there. The route and server certificates map
to no user at all. The same accounts go into every node's config and into the Helm values,
so the chart enforces what the local cluster does.
"""

from __future__ import annotations

from typing import Any

from courtyard.artefacts.certs import client_name
from courtyard.project import naming
from courtyard.project.model import ClientIdentity, Spec
from courtyard.project.subjects import widest

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


def teams(spec: Spec) -> list[ClientIdentity]:
    """The restricted identities: each has an account of its own."""
    return [identity for identity in spec.tls.clients if identity.restricted]


def shared_identities(spec: Spec) -> list[ClientIdentity]:
    """The admins and Courtyard's own identity: the users of the shared account (or of the
    global account, when there are no teams)."""
    return [i for i in identities(spec) if not i.system and not i.restricted]


def application_identities(spec: Spec) -> list[ClientIdentity]:
    """Every identity but the system ones."""
    return [identity for identity in identities(spec) if not identity.system]


def account_of(spec: Spec, identity: ClientIdentity) -> str:
    """The account the identity's certificate logs in to."""
    if identity.system:
        return naming.SYSTEM_ACCOUNT
    if identity.restricted:
        return naming.team_account(identity.name)
    return naming.SHARED_ACCOUNT if teams(spec) else "$G"


def user(spec: Spec, identity: ClientIdentity) -> dict[str, Any]:
    entry: dict[str, Any] = {"user": client_name(spec, identity.name).to_x509().rfc4514_string()}
    rights = permissions(identity)
    if rights is not None:
        entry["permissions"] = rights
    return entry


def users(spec: Spec) -> list[dict[str, Any]]:
    """One user per application identity, named by its certificate's subject."""
    return [user(spec, identity) for identity in application_identities(spec)]


def system_users(spec: Spec) -> list[dict[str, Any]]:
    """The system account's users: one per system identity."""
    return [user(spec, identity) for identity in spec.tls.system_identities]


def system_account(spec: Spec) -> dict[str, Any]:
    """nats-server's own system account, with its users when the spec has system
    identities."""
    users_of_sys = system_users(spec)
    return {naming.SYSTEM_ACCOUNT: {"users": users_of_sys} if users_of_sys else {}}


def team_imports(identity: ClientIdentity) -> list[dict[str, Any]]:
    """A team's bridges to the shared account: its publishes go there (service imports,
    which also carry replies to its requests back), the subjects it subscribes to come from
    there (stream imports)."""
    shared = naming.SHARED_ACCOUNT
    return [
        *({"service": {"account": shared, "subject": p}} for p in widest(identity.publish)),
        *({"stream": {"account": shared, "subject": s}} for s in widest(identity.subscribe)),
    ]


def shared_exports(spec: Spec) -> list[dict[str, Any]]:
    """What the shared account exports: each team pattern, to exactly the teams that import
    it."""
    exported: dict[tuple[str, str], list[str]] = {}
    for team in teams(spec):
        for entry in team_imports(team):
            kind, detail = next(iter(entry.items()))
            exported.setdefault((kind, detail["subject"]), []).append(
                naming.team_account(team.name)
            )
    return [{kind: subject, "accounts": accounts} for (kind, subject), accounts in exported.items()]


def accounts(spec: Spec) -> dict[str, Any]:
    """The `accounts` block: the shared account and one per team (each with JetStream)
    when the spec has teams, and the system account."""
    if not teams(spec):
        return system_account(spec)
    shared: dict[str, Any] = {
        "jetstream": True,
        "users": [user(spec, i) for i in shared_identities(spec)],
    }
    exports = shared_exports(spec)
    if exports:
        shared["exports"] = exports
    result: dict[str, Any] = {naming.SHARED_ACCOUNT: shared}
    for team in teams(spec):
        account: dict[str, Any] = {"jetstream": True, "users": [user(spec, team)]}
        imports = team_imports(team)
        if imports:
            account["imports"] = imports
        result[naming.team_account(team.name)] = account
    return {**result, **system_account(spec)}


def server_config(spec: Spec) -> dict[str, Any]:
    """The accounts (and, without teams, the global account's `authorization` users) as
    every node's config holds them."""
    config: dict[str, Any] = {}
    if not teams(spec):
        config["authorization"] = {"users": users(spec)}
    return {**config, "accounts": accounts(spec), "system_account": naming.SYSTEM_ACCOUNT}


def rights(identity: ClientIdentity) -> str:
    """What the identity may do, in one line (`invoke certs --show`)."""
    if identity.name == naming.RESERVED_IDENTITY:
        return "full access: Courtyard's own (readiness, status, smoke)"
    if identity.system:
        return "the system account: $SYS server requests (nats server list, report), nothing else"
    if not identity.restricted:
        return "full access to the application subjects, streams and buckets (an admin)"
    bridges = "publishes reach, and subscriptions come from, the shared account APP"
    parts = [
        f"{label} {', '.join(items) or '-'}"
        for label, items in (
            ("publish", identity.publish),
            ("subscribe", identity.subscribe),
            ("streams", identity.streams),
            ("buckets", identity.buckets),
        )
    ]
    return (
        f"its own account {naming.team_account(identity.name)} (JetStream inside it only; "
        f"{bridges}): " + "; ".join(parts) + f"; replies on {naming.inbox_prefix(identity.name)}.>"
    )


def accounts_config(spec: Spec) -> dict[str, Any]:
    """What the 0.x chart includes from its extra config: the accounts with their users,
    and the system account's name (that chart's own `auth.basic.accounts` would write an
    empty `authorization {}` after the users, which nats-server takes as no users)."""
    return {"accounts": accounts(spec), "system_account": naming.SYSTEM_ACCOUNT}

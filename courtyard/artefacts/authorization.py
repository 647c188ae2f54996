"""Who may do what: each client certificate maps to a user (`verify_and_map`), and
restricted identities get only what the spec lists.

Subject permissions cannot bound what an identity configures on its own streams (sources,
mirrors, captured subjects, republish and push delivery run as the server, not as the
user), so each restricted identity is a team with an account of its own, JetStream
included: whatever its streams do stays inside that account. Admins (plain names in the
spec) and Courtyard's own identity share the account `APP`, the hub every team's traffic
passes through exactly once:

- a team's publish on a subject of its `publish` list is mapped, in its account, to
  `_CY.out.<subject>` (so it never reaches the team's own subscribers directly), crosses to
  APP through a service import (which also carries replies to its requests back), arrives
  there as `_CY.in.<team>.<subject>` and is mapped back to `<subject>`;
- everything on a subject of a team's `subscribe` list in APP, whoever published it,
  crosses down to the team through APP's service import of `_CY.down.<subject>` from the
  team, mapped back in the team's account: the team's subscribers and its streams get it
  once, and answers and JetStream acks travel back up the same way.

Service imports are processed only on the node where a message enters, and each account
routes what it holds in its own name, so every message takes exactly one path to every
subscriber, on whichever nodes they are: a stream import back the other way would deliver a
second copy after the message crossed a route (nats-server dedups that only on the node
where it entered). Within its account the identity's user may publish only to its bridges,
its own streams and buckets (the JetStream API subjects that create, use and delete exactly
those), and subscribe only to its lists and its own inbox.

A spec without restricted identities keeps its users in the global account, where streams
made before Courtyard had users still are. System identities (`system: true`) are the users
of the system account, `$SYS`: they make the requests `nats server list/ping/info/report`
send, and reach no application subject; nobody else can log in there. The route and server
certificates map to no user at all. The same accounts go into every node's config and into
the Helm values, so the chart enforces what the local cluster does.
"""

from __future__ import annotations

from typing import Any

from courtyard.artefacts.certs import client_name
from courtyard.project import naming
from courtyard.project.limits import AccountLimits, account_limits
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
    """The server's permissions block for a restricted identity; None for full access.
    nats-server checks a publish after the account's mappings, so the team's publish list
    is allowed as the bridge subjects its account maps it to."""
    if not identity.restricted:
        return None
    publish = [naming.bridge_out(subject) for subject in widest(identity.publish)]
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
    return list(spec.tls.team_identities)


def shared_identities(spec: Spec) -> list[ClientIdentity]:
    """The admins and Courtyard's own identity: the users of the shared account (or of the
    global account, when there are no teams)."""
    return [i for i in identities(spec) if not i.system and not i.restricted]


def application_identities(spec: Spec) -> list[ClientIdentity]:
    """Every identity but the system ones."""
    return [identity for identity in identities(spec) if not identity.system]


def application_accounts(spec: Spec) -> set[str]:
    """The accounts whose streams the spec serves: APP and every team's, or the global
    account when there are no teams."""
    if not teams(spec):
        return {naming.GLOBAL_ACCOUNT}
    return {naming.SHARED_ACCOUNT, *(naming.team_account(t.name) for t in teams(spec))}


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


def mapping_destination(pattern: str) -> str:
    """`pattern` as a nats-server mapping destination: each `*` becomes the reference to
    the token it matched (`{{wildcard(1)}}`, ...); `>` carries over as it is."""
    tokens, wildcards = [], 0
    for token in pattern.split("."):
        if token == "*":
            wildcards += 1
            token = f"{{{{wildcard({wildcards})}}}}"
        tokens.append(token)
    return ".".join(tokens)


def _present(**blocks: Any) -> dict[str, Any]:
    """The config blocks that hold something, in their order (nats-server wants no empty
    `imports` or `exports`)."""
    return {key: value for key, value in blocks.items() if value}


def team_bridges(identity: ClientIdentity) -> dict[str, Any]:
    """A team account's side of its bridges to APP: its publishes mapped onto the service
    import that carries them up, and what APP passes down mapped back to its own subjects."""
    shared = naming.SHARED_ACCOUNT
    publish, subscribe = widest(identity.publish), widest(identity.subscribe)
    mappings = {
        **{subject: mapping_destination(naming.bridge_out(subject)) for subject in publish},
        **{naming.bridge_down(subject): mapping_destination(subject) for subject in subscribe},
    }
    imports = [
        {
            "service": {"account": shared, "subject": naming.bridge_in(identity.name, subject)},
            "to": naming.bridge_out(subject),
        }
        for subject in publish
    ]
    exports = [
        {"service": naming.bridge_down(subject), "accounts": [shared]} for subject in subscribe
    ]
    return _present(mappings=mappings, imports=imports, exports=exports)


def shared_bridges(spec: Spec) -> dict[str, Any]:
    """APP's side: each team's publishes exported to exactly that team and mapped back to
    their subjects, and a service import of each subject a team subscribes to from it."""
    exports, imports, mappings = [], [], {}
    for team in teams(spec):
        account = naming.team_account(team.name)
        for subject in widest(team.publish):
            arrival = naming.bridge_in(team.name, subject)
            exports.append({"service": arrival, "accounts": [account]})
            mappings[arrival] = mapping_destination(subject)
        for subject in widest(team.subscribe):
            imports.append(
                {
                    "service": {"account": account, "subject": naming.bridge_down(subject)},
                    "to": subject,
                }
            )
    return _present(mappings=mappings, imports=imports, exports=exports)


def jetstream_limits(limits: AccountLimits) -> dict[str, Any]:
    """An account's `jetstream` block: its stores (every replica counted, as nats-server
    counts them) and, for a team, its streams and consumers."""
    block: dict[str, Any] = {"max_memory": limits.memory, "max_file": limits.file}
    if limits.streams is not None:
        block["max_streams"] = limits.streams
    if limits.consumers is not None:
        block["max_consumers"] = limits.consumers
    return block


def accounts(spec: Spec) -> dict[str, Any]:
    """The `accounts` block: the shared account and one per team (each with its JetStream
    limits and its side of the bridges) when the spec has teams, and the system account."""
    if not teams(spec):
        return system_account(spec)
    limits = account_limits(spec)
    shared: dict[str, Any] = {
        "jetstream": jetstream_limits(limits[naming.SHARED_ACCOUNT]),
        "users": [user(spec, i) for i in shared_identities(spec)],
        **shared_bridges(spec),
    }
    result: dict[str, Any] = {naming.SHARED_ACCOUNT: shared}
    for team in teams(spec):
        account = naming.team_account(team.name)
        result[account] = {
            "jetstream": jetstream_limits(limits[account]),
            "limits": {"max_connections": limits[account].connections},
            "users": [user(spec, team)],
            **team_bridges(team),
        }
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
    bridges = "its publishes and requests cross to every identity through the shared account APP"
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

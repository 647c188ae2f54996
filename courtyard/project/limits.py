"""What each account may hold, so that no team starves another: every team's JetStream
memory and file limits, its streams, consumers and connections, and the admins' share.

nats-server counts an account's JetStream use across the cluster, every replica included (an
R3 stream of 100Mi takes 300Mi of its file limit), and refuses what would go past the limit.
A team's use on any one node is therefore at most its limit, and when the limits of all
accounts together fit one node's store, no account can take what another's limit promises,
wherever the streams are placed. The spec gives a team's limits under `limits:`; what it
leaves out, each team and the admins' account `APP` share equally from what the stores have
left. A spec without teams has one application account and no limits to set.
"""

from __future__ import annotations

from dataclasses import dataclass

from courtyard.project import naming
from courtyard.project.model import ClientIdentity, Spec
from courtyard.project.sizes import format_size, parse_size

# A team's defaults for what is not a share of the stores.
DEFAULT_STREAMS = 64
DEFAULT_CONSUMERS = 512
DEFAULT_CONNECTIONS = 128
MIB = 1024 * 1024
# Less than this for an account is no JetStream to speak of: the spec is refused. Shares are
# whole MiB.
MIN_SHARE_BYTES = MIB
STORES = ("memory", "file")


@dataclass(frozen=True)
class AccountLimits:
    """One account's limits; None: no limit (the admins' streams, consumers, connections)."""

    account: str
    memory: int
    file: int
    streams: int | None = None
    consumers: int | None = None
    connections: int | None = None

    def store(self, kind: str) -> int:
        return self.memory if kind == "memory" else self.file


def _store_bytes(spec: Spec, kind: str) -> int:
    jetstream = spec.jetstream
    return jetstream.memory_store_bytes if kind == "memory" else jetstream.file_store_bytes


def _explicit(team: ClientIdentity, kind: str) -> int | None:
    value = team.limits.memory if kind == "memory" else team.limits.file
    return None if value is None else parse_size(value)


def shares(spec: Spec, kind: str) -> dict[str, int]:
    """Each account's bytes of the `kind` store (memory or file): a team's own value, else an
    equal share of what the explicit values leave; APP always takes a share."""
    explicit = {t.name: _explicit(t, kind) for t in spec.tls.team_identities}
    given = {name: value for name, value in explicit.items() if value is not None}
    defaulted = [name for name, value in explicit.items() if value is None]
    left = _store_bytes(spec, kind) - sum(given.values())
    share = (left // (len(defaulted) + 1)) // MIB * MIB if left > 0 else 0
    result = {naming.team_account(name): given.get(name, share) for name in explicit}
    result[naming.SHARED_ACCOUNT] = share
    return result


def fit_problem(spec: Spec) -> tuple[str, object, str] | None:
    """(field, value, why) when the accounts' limits cannot fit the stores; None when they
    do, or when the spec has no teams."""
    teams = spec.tls.team_identities
    if not teams:
        return None
    for kind in STORES:
        store = _store_bytes(spec, kind)
        field = f"jetstream.{kind}_store"
        given = [(t, _explicit(t, kind)) for t in teams]
        given = [(t, value) for t, value in given if value is not None]
        for team, value in given:
            if value < MIN_SHARE_BYTES:
                return (
                    f"tls.clients[{team.name}].limits.{kind}",
                    format_size(value),
                    f"is less than {format_size(MIN_SHARE_BYTES)}, no {kind} store to speak of",
                )
        total = sum(value for _, value in given)
        if given and total > store - MIN_SHARE_BYTES:
            team, value = given[-1]
            names = ", ".join(t.name for t, _ in given)
            return (
                f"tls.clients[{team.name}].limits.{kind}",
                format_size(value),
                f"brings the teams' {kind} limits ({names}) to {format_size(total)}, which "
                f"leaves less than {format_size(MIN_SHARE_BYTES)} of the {format_size(store)} "
                f"{field} for the admins' account {naming.SHARED_ACCOUNT}; lower them or raise "
                f"{field}",
            )
        defaulted = 1 + sum(1 for t in teams if _explicit(t, kind) is None)
        if shares(spec, kind)[naming.SHARED_ACCOUNT] < MIN_SHARE_BYTES:
            return (
                field,
                format_size(store),
                f"leaves each of the {defaulted} accounts that share it (the admins' and the "
                f"teams without limits.{kind}) less than {format_size(MIN_SHARE_BYTES)}; "
                f"raise {field} or give the teams explicit limits",
            )
    return None


def account_limits(spec: Spec) -> dict[str, AccountLimits]:
    """Every application account's limits, by account name; empty without teams."""
    if not spec.tls.team_identities:
        return {}
    memory, file = shares(spec, "memory"), shares(spec, "file")
    result = {
        naming.SHARED_ACCOUNT: AccountLimits(
            naming.SHARED_ACCOUNT, memory[naming.SHARED_ACCOUNT], file[naming.SHARED_ACCOUNT]
        )
    }
    for team in spec.tls.team_identities:
        account = naming.team_account(team.name)
        given = team.limits
        result[account] = AccountLimits(
            account,
            memory[account],
            file[account],
            streams=given.streams or DEFAULT_STREAMS,
            consumers=given.consumers or DEFAULT_CONSUMERS,
            connections=given.connections or DEFAULT_CONNECTIONS,
        )
    return result

"""JetStream resource limits, read from the servers' own `/jsz`: a full store named with
its node, its limit and the streams that fill it, instead of a leaderless stream and a
timeout blamed on a slow machine; and an account at its limits (a team that filled or
reserved its share) named with the limit and the streams that take it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from courtyard.project import naming
from courtyard.project.limits import AccountLimits
from courtyard.project.sizes import format_size
from courtyard.servers import jsz as jsz_reader
from courtyard.servers.jsz import Jsz, StreamDetail

# nats-server refuses a write that would pass the limit; a store this close to it is full
# for any message of real size.
FULL_AT = 0.98
STORE_FULL = "JetStream {kind} store full"
# (the /jsz key of the bytes used, the /jsz config key of the limit, the spec key)
STORES = (
    ("file", "storage", "max_storage", "jetstream.file_store"),
    ("memory", "memory", "max_memory", "jetstream.memory_store"),
)


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _biggest_streams(jsz: Jsz, kind: str, count: int = 3) -> list[str]:
    streams = [(s.bytes, s.name) for s in jsz.streams() if s.storage in (None, kind)]
    return [f"{name} ({_mib(size)})" for size, name in sorted(streams, reverse=True)[:count]]


def store_problems(answer: Jsz | Any) -> list[str]:
    """What a node's /jsz (`jsz.STREAMS_QUERY`) says is full; [] when nothing is."""
    jsz = answer if isinstance(answer, Jsz) else Jsz.parse(answer)
    problems = []
    for kind, used_key, limit_key, spec_key in STORES:
        used, limit = jsz.total(used_key), jsz.limit(limit_key)
        if limit > 0 and used >= FULL_AT * limit:
            streams = _biggest_streams(jsz, kind)
            held = f"; largest streams: {', '.join(streams)}" if streams else ""
            problems.append(
                f"{STORE_FULL.format(kind=kind)} ({_mib(used)} of {_mib(limit)}){held}; purge "
                f"or delete data, or raise {spec_key} in the spec and run `invoke up`"
            )
    return problems


def cluster_store_problems(targets: Sequence[tuple[str, int]]) -> list[str]:
    """Every full store of the nodes (name, monitor host port), each naming its node."""
    return [
        f"{name}: {problem}"
        for name, port in targets
        for problem in store_problems(jsz_reader.fetch(port))
    ]


def is_store_full(problem: str) -> bool:
    return any(STORE_FULL.format(kind=kind) in problem for kind, *_ in STORES)


# A team this close to a limit is at it: its next stream or message of real size is refused.
AT_LIMIT = 0.95


def account_limit_warnings(limits: dict[str, AccountLimits], answers: Iterable[Jsz]) -> list[str]:
    """Each account at (or within 5% of) one of its limits, named with the limit and what
    takes it, from the nodes' `/jsz` (`jsz.ACCOUNT_USE_QUERY`); each stream counted once,
    on every replica, as nats-server counts it. [] when the spec sets no limits."""
    streams: dict[tuple[str, str], StreamDetail] = {}
    for answer in answers:
        for stream in answer.streams():
            streams.setdefault((stream.account, stream.name), stream)
    warnings = []
    for account, limit in limits.items():
        held = [s for (owner, _), s in streams.items() if owner == account]
        who = "the admins' account" if account == naming.SHARED_ACCOUNT else "team"
        for kind in ("memory", "file"):
            kept = [s for s in held if (s.storage or "file") == kind]
            used, allowed = sum(s.reserved for s in kept), limit.store(kind)
            if used >= AT_LIMIT * allowed:
                largest = sorted(kept, key=lambda s: s.reserved, reverse=True)[:3]
                names = ", ".join(f"{s.name} ({format_size(s.reserved)})" for s in largest)
                warnings.append(
                    f"{who} {account} is at its {kind} limit: {format_size(used)} of "
                    f"{format_size(allowed)} taken ({names}, every replica counted); its next "
                    "stream or message is refused, the other accounts are not affected"
                )
        if limit.streams is not None and len(held) >= limit.streams:
            warnings.append(
                f"{who} {account} is at its limit of {limit.streams} streams; its next stream "
                "is refused, the other accounts are not affected"
            )
    return warnings


def cluster_account_limit_warnings(
    limits: dict[str, AccountLimits], targets: Sequence[tuple[str, int]]
) -> list[str]:
    """The same, asking the nodes (name, monitor host port) themselves."""
    if not limits:
        return []
    answers = [jsz_reader.fetch(port, jsz_reader.ACCOUNT_USE_QUERY) for _, port in targets]
    return account_limit_warnings(limits, answers)

"""JetStream resource limits, read from the servers' own `/jsz`: a full store named with
its node, its limit and the streams that fill it, instead of a leaderless stream and a
timeout blamed on a slow machine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from courtyard.servers import jsz as jsz_reader
from courtyard.servers.jsz import Jsz

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

"""JetStream resource limits, read from the servers' own `/jsz`: a full store named with
its node, its limit and the streams that fill it, instead of a leaderless stream and a
timeout blamed on a slow machine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from courtyard.checks import monitor

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


def _biggest_streams(jsz: dict[str, Any], kind: str, count: int = 3) -> list[str]:
    streams = [
        (stream.get("state", {}).get("bytes", 0), stream.get("name", "?"))
        for account in jsz.get("account_details") or []
        for stream in account.get("stream_detail") or []
        if (stream.get("config") or {}).get("storage", "file") == kind or "config" not in stream
    ]
    return [f"{name} ({_mib(size)})" for size, name in sorted(streams, reverse=True)[:count]]


# What store_problems reads: usage, limits and each stream's size.
JSZ_STORES = "/jsz?streams=true&config=true"


def store_problems(jsz: Any) -> list[str]:
    """What `jsz` (a node's /jsz?streams=true answer) says is full; [] when nothing is."""
    if not isinstance(jsz, dict):
        return []
    config = jsz.get("config") or {}
    problems = []
    for kind, used_key, limit_key, spec_key in STORES:
        used, limit = jsz.get(used_key) or 0, config.get(limit_key) or 0
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
        for problem in store_problems(monitor.get(port, JSZ_STORES).body)
    ]


def is_store_full(problem: str) -> bool:
    return any(STORE_FULL.format(kind=kind) in problem for kind, *_ in STORES)

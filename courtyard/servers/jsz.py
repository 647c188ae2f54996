"""The one reading of a node's `/jsz` answer: meta group, totals, stores and streams.

nats-server answers `/jsz` with nested JSON whose keys come and go with the query and the
server's state (no `meta_cluster` before a leader is known, no `account_details` without
`streams=true`). `Jsz` reads every key once, tolerating what is absent, so readiness,
status, the store check, drills and failovers agree on what a node said.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from courtyard.servers import monitor

# Usage, limits and each stream's state, config and replica group.
STREAMS_QUERY = "/jsz?streams=true&config=true"
# Each account with the names of its streams.
ACCOUNTS_QUERY = "/jsz?accounts=true&streams=true"
# Each account's streams with their configs: what each reserves of its account's limits.
ACCOUNT_USE_QUERY = "/jsz?accounts=true&streams=true&config=true"


@dataclass(frozen=True)
class Replica:
    name: str
    current: bool
    offline: bool
    peer: str = ""  # the peer's id in its Raft group

    @property
    def usable(self) -> bool:
        return self.current and not self.offline


def _replicas(group: dict[str, Any]) -> list[Replica]:
    return [
        Replica(
            r.get("name") or "",
            bool(r.get("current")),
            bool(r.get("offline")),
            str(r.get("peer") or ""),
        )
        for r in group.get("replicas") or []
        if isinstance(r, dict)
    ]


def _whole(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


@dataclass(frozen=True)
class StreamDetail:
    name: str
    leader: str
    replicas: list[Replica]
    last_seq: int | None
    messages: int
    bytes: int
    storage: str | None  # "file" or "memory" when the query asked for config
    account: str = ""
    num_replicas: int = 1  # from the config, when the query asked for it
    max_bytes: int = -1  # likewise; -1: no limit of its own

    @property
    def reserved(self) -> int:
        """What the stream takes of its account's limit, as nats-server counts it: its
        `max_bytes` (else what it holds) on every replica."""
        return max(self.max_bytes, self.bytes) * max(self.num_replicas, 1)


@dataclass(frozen=True)
class Jsz:
    body: dict[str, Any]

    @classmethod
    def parse(cls, body: Any) -> Jsz:
        """Any answer (a dict, an error text, nothing) as a Jsz; non-dicts read as empty."""
        return cls(body if isinstance(body, dict) else {})

    @property
    def answered(self) -> bool:
        return bool(self.body)

    @property
    def meta_leader(self) -> str:
        return (self.body.get("meta_cluster") or {}).get("leader") or ""

    @property
    def meta_replicas(self) -> list[Replica]:
        return _replicas(self.body.get("meta_cluster") or {})

    @property
    def meta_size(self) -> int:
        """How many peers the meta group counts (0 when the node does not say)."""
        return _whole((self.body.get("meta_cluster") or {}).get("cluster_size"), 0)

    def total(self, key: str) -> int:
        """A top-level count: streams, consumers, messages, bytes, memory, storage."""
        value = self.body.get(key) or 0
        return value if isinstance(value, int) else 0

    def limit(self, key: str) -> int:
        """A configured limit: max_memory, max_storage."""
        value = (self.body.get("config") or {}).get(key) or 0
        return value if isinstance(value, int) else 0

    def streams(self) -> Iterator[StreamDetail]:
        for account in self.body.get("account_details") or []:
            for stream in (account or {}).get("stream_detail") or []:
                group = stream.get("cluster") or {}
                state = stream.get("state") or {}
                config = stream.get("config")
                given = config or {}
                yield StreamDetail(
                    name=stream.get("name") or "?",
                    leader=group.get("leader") or "",
                    replicas=_replicas(group),
                    last_seq=state.get("last_seq"),
                    messages=state.get("messages") or 0,
                    bytes=state.get("bytes") or 0,
                    storage=given.get("storage", "file") if config is not None else None,
                    account=str((account or {}).get("name") or "?"),
                    num_replicas=_whole(given.get("num_replicas"), 1),
                    max_bytes=_whole(given.get("max_bytes"), -1),
                )

    def account_streams(self) -> dict[str, list[str]]:
        """Account name -> the names of its streams (an `accounts=true&streams=true` query)."""
        return {
            str((account or {}).get("name") or "?"): [
                str(stream.get("name") or "?")
                for stream in (account or {}).get("stream_detail") or []
            ]
            for account in self.body.get("account_details") or []
        }

    def stream(self, name: str) -> StreamDetail | None:
        return next((s for s in self.streams() if s.name == name), None)


def fetch(port: int, query: str = STREAMS_QUERY) -> Jsz:
    """What the node on monitor port `port` (127.0.0.1) says; empty when it does not answer."""
    return Jsz.parse(monitor.get(port, query).body)


def leader_view(targets: Iterable[tuple[str, int]]) -> tuple[str, Jsz] | None:
    """The `/jsz` of the node among `targets` that leads the meta group (its view of the
    group: size and the other peers), with that node's name; None while none leads."""
    for name, port in targets:
        answer = fetch(port, "/jsz")
        if answer.meta_leader == name:
            return name, answer
    return None


def meta_leader(targets: Iterable[tuple[str, int]]) -> str:
    """The meta leader as the first node of `targets` that knows one names it; "" if none."""
    for _, port in targets:
        leader = fetch(port, "/jsz").meta_leader
        if leader:
            return leader
    return ""


def stream_leader(targets: Iterable[tuple[str, int]], stream: str) -> str:
    """The leader of `stream` as the first node of `targets` hosting it names it; "" if none."""
    for _, port in targets:
        detail = fetch(port, "/jsz?streams=true").stream(stream)
        if detail is not None and detail.leader:
            return detail.leader
    return ""

"""`invoke report`: what an operator asks first, answered by the servers themselves.

Read through the system identity with the requests the nats CLI makes (`servers/system.py`):
`$SYS.REQ.SERVER.PING.STATSZ` for each server (version, uptime, connections, routes,
memory, CPU, slow consumers) and `.PING.JSZ` with accounts, streams and consumers for
JetStream (per server: streams, consumers, messages, bytes, memory and file store against
their limits; the meta leader's view of its followers; each stream as its leader sees it).
A node that does not answer is named, the others are reported.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

from courtyard.checks.meta_group import departed, departed_warning, former_pods
from courtyard.checks.resources import account_limit_warnings
from courtyard.project.limits import account_limits
from courtyard.project.loaded import Project
from courtyard.servers import system
from courtyard.servers.jsz import Jsz
from courtyard.servers.natsclient import run_quietly

JSZ_DETAIL = {"accounts": True, "streams": True, "consumer": True, "config": True}


@dataclass
class ServerRow:
    server: str
    version: str
    uptime: str
    connections: int
    routes: int
    memory: int  # bytes the process holds
    cpu: float  # percent
    slow_consumers: int


@dataclass
class JetStreamRow:
    server: str
    streams: int
    consumers: int
    messages: int
    bytes: int
    memory: int
    memory_limit: int
    store: int
    store_limit: int
    meta_leader: str


@dataclass
class Follower:
    name: str
    current: bool
    offline: bool
    lag: int


@dataclass
class ConsumerRow:
    name: str
    pending: int
    ack_pending: int


@dataclass
class StreamRow:
    account: str
    name: str
    leader: str
    replicas: list[Follower]
    messages: int
    bytes: int
    consumers: list[ConsumerRow] = field(default_factory=list)


@dataclass
class Report:
    cluster: str
    identity: str
    servers: list[ServerRow] = field(default_factory=list)
    jetstream: list[JetStreamRow] = field(default_factory=list)
    meta_leader: str = ""
    followers: list[Follower] = field(default_factory=list)
    streams: list[StreamRow] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # nodes that did not answer
    limits: list[str] = field(default_factory=list)  # accounts at one of their limits
    meta_group: list[str] = field(default_factory=list)  # departed peers it still counts

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _instant(text: object) -> dt.datetime | None:
    """An RFC 3339 time as nats-server writes it (nanoseconds cut to microseconds)."""
    if not isinstance(text, str):
        return None
    text = text.replace("Z", "+00:00")
    if "." in text:
        whole, _, rest = text.partition(".")
        digits = "".join(itertools.takewhile(str.isdigit, rest))
        text = f"{whole}.{digits[:6]}{rest[len(digits) :]}"
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def uptime(start: str, now: dt.datetime) -> str:
    """`1h02m`, `3m04s`, `12s` since the server's start (RFC 3339)."""
    started = _instant(start)
    if started is None:
        return "?"
    seconds = max(0, int((now - started).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def server_row(answer: system.Answer, now: dt.datetime) -> ServerRow:
    stats, info = answer.data, answer.body.get("server") or {}
    # The server's own clock at the answer, so that the uptime is the server's alone.
    now = _instant(info.get("time")) or now
    routes = {r.get("name") for r in stats.get("routes") or [] if isinstance(r, dict)}
    return ServerRow(
        server=answer.server,
        version=str(info.get("ver", "?")),
        uptime=uptime(stats.get("start", ""), now),
        connections=int(stats.get("connections") or 0),
        routes=len(routes - {None}),
        memory=int(stats.get("mem") or 0),
        cpu=float(stats.get("cpu") or 0),
        slow_consumers=int(stats.get("slow_consumers") or 0),
    )


def jetstream_row(answer: system.Answer) -> JetStreamRow:
    data = answer.data
    config = data.get("config") or {}
    return JetStreamRow(
        server=answer.server,
        streams=int(data.get("streams") or 0),
        consumers=int(data.get("consumers") or 0),
        messages=int(data.get("messages") or 0),
        bytes=int(data.get("bytes") or 0),
        memory=int(data.get("memory") or 0),
        memory_limit=int(config.get("max_memory") or 0),
        store=int(data.get("storage") or 0),
        store_limit=int(config.get("max_storage") or 0),
        meta_leader=(data.get("meta_cluster") or {}).get("leader") or "",
    )


def followers(replicas: list[dict[str, Any]] | None) -> list[Follower]:
    return [
        Follower(
            str(r.get("name", "?")),
            bool(r.get("current")),
            bool(r.get("offline")),
            int(r.get("lag") or 0),
        )
        for r in replicas or []
        if isinstance(r, dict)
    ]


def _consumer_rows(answers: list[system.Answer]) -> dict[tuple[str, str], list[ConsumerRow]]:
    """Each stream's consumers, each as its own leader reports it (a follower's copy of a
    consumer can lag behind, or not know its pending count yet)."""
    found: dict[tuple[str, str, str], tuple[bool, ConsumerRow]] = {}
    for answer in answers:
        for account in answer.data.get("account_details") or []:
            for stream in (account or {}).get("stream_detail") or []:
                for consumer in stream.get("consumer_detail") or []:
                    if not isinstance(consumer, dict):
                        continue
                    key = (str(account.get("name")), str(stream.get("name")), consumer.get("name"))
                    leads = (consumer.get("cluster") or {}).get("leader") == answer.server
                    if key in found and (found[key][0] or not leads):
                        continue
                    row = ConsumerRow(
                        str(consumer.get("name", "?")),
                        int(consumer.get("num_pending") or 0),
                        int(consumer.get("num_ack_pending") or 0),
                    )
                    found[key] = (leads, row)
    by_stream: dict[tuple[str, str], list[ConsumerRow]] = {}
    for (account, stream, _), (_, row) in sorted(found.items(), key=lambda item: str(item[0])):
        by_stream.setdefault((account, stream), []).append(row)
    return by_stream


def stream_rows(answers: list[system.Answer]) -> list[StreamRow]:
    """Each stream once, as its leader reports it (else as the first server holding it),
    with its consumers as their leaders report them."""
    consumers = _consumer_rows(answers)
    seen: dict[tuple[str, str], StreamRow] = {}
    for answer in answers:
        for account in answer.data.get("account_details") or []:
            for stream in (account or {}).get("stream_detail") or []:
                group, state = stream.get("cluster") or {}, stream.get("state") or {}
                key = (str(account.get("name", "?")), str(stream.get("name", "?")))
                leads = group.get("leader") == answer.server
                if key in seen and not leads:
                    continue
                seen[key] = StreamRow(
                    account=key[0],
                    name=key[1],
                    leader=group.get("leader") or "",
                    replicas=followers(group.get("replicas")),
                    messages=int(state.get("messages") or 0),
                    bytes=int(state.get("bytes") or 0),
                    consumers=consumers.get(key, []),
                )
    return sorted(seen.values(), key=lambda row: row.name)


def build(
    project: Project,
    identity: str,
    statsz: list[system.Answer],
    jsz: list[system.Answer],
    now: dt.datetime,
) -> Report:
    """The report from the servers' answers (pure: unit-tested on canned answers)."""
    report = Report(project.names.fullname, identity)
    report.servers = [server_row(answer, now) for answer in statsz]
    report.jetstream = [jetstream_row(answer) for answer in jsz]
    answered = {answer.server for answer in statsz} | {answer.server for answer in jsz}
    report.missing = [pod for pod in project.names.pods if pod not in answered]
    leaders = [row.meta_leader for row in report.jetstream if row.meta_leader]
    report.meta_leader = max(set(leaders), key=leaders.count) if leaders else ""
    leader = next((a for a in jsz if a.server == report.meta_leader), None)
    if leader is not None:
        meta = leader.data.get("meta_cluster") or {}
        report.followers = followers(meta.get("replicas"))
        pods = project.names.pods
        replicas = Jsz.parse(leader.data).meta_replicas
        size = meta.get("cluster_size")
        size = size if isinstance(size, int) else len(replicas) + 1
        gone = departed(replicas, pods, former_pods(project.names))
        warning = departed_warning(size, gone, len(pods))
        report.meta_group = [warning] if warning else []
    report.streams = stream_rows(jsz)
    answers = [Jsz.parse(answer.data) for answer in jsz]
    report.limits = account_limit_warnings(account_limits(project.spec), answers)
    return report


async def gather(project: Project, identity: str | None = None) -> Report:
    """Ask every server, through the system identity; nodes that are down are named."""
    who = system.system_identity(project, identity)
    expected = project.spec.replicas
    nc = await system.connect_system(project, who)
    try:
        # Both at once: a node that is down costs one answer timeout, not two.
        statsz, jsz = await asyncio.gather(
            system.ping(nc, system.STATSZ_PING, expected=expected),
            system.ping(nc, system.JSZ_PING, expected=expected, options=JSZ_DETAIL),
        )
    finally:
        await nc.close()
    return build(project, who, statsz, jsz, dt.datetime.now(dt.UTC))


def report(project: Project, identity: str | None = None) -> Report:
    return run_quietly(gather(project, identity))

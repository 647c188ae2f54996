"""`invoke report`: the servers' own view of the cluster, as tables (or JSON), once or live."""

from __future__ import annotations

import json
import sys
import time

from courtyard.checks import report as report_check
from courtyard.commands.output import table
from courtyard.commands.steps import load
from courtyard.core.errors import CourtyardError
from courtyard.core.reporter import CROSS

CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear the screen


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _of(used: int, limit: int) -> str:
    return f"{_mib(used)} / {_mib(limit)}" if limit > 0 else _mib(used)


def _servers(found: report_check.Report) -> str:
    return table(
        ["server", "version", "uptime", "conns", "routes", "memory", "cpu", "slow"],
        [
            (
                r.server,
                r.version,
                r.uptime,
                r.connections,
                r.routes,
                _mib(r.memory),
                f"{r.cpu:.0f}%",
                r.slow_consumers,
            )
            for r in found.servers
        ],
    )


def _jetstream(found: report_check.Report) -> str:
    return table(
        [
            "server",
            "streams",
            "consumers",
            "messages",
            "bytes",
            "memory",
            "file store",
            "meta leader",
        ],
        [
            (
                r.server,
                r.streams,
                r.consumers,
                r.messages,
                r.bytes,
                _of(r.memory, r.memory_limit),
                _of(r.store, r.store_limit),
                r.meta_leader or "-",
            )
            for r in found.jetstream
        ],
    )


def _meta_group(found: report_check.Report) -> str:
    followers = ", ".join(
        f"{f.name} ({'current' if f.current else 'NOT current'}"
        + (", offline" if f.offline else "")
        + f", lag {f.lag})"
        for f in found.followers
    )
    return f"meta leader {found.meta_leader or '-'}; followers: {followers or '-'}"


def _streams(found: report_check.Report) -> str:
    rows = []
    for s in found.streams:
        replicas = ", ".join(
            f"{r.name}{'' if r.current else ' (not current)'} lag {r.lag}" for r in s.replicas
        )
        consumers = ", ".join(
            f"{c.name} pending {c.pending} ack {c.ack_pending}" for c in s.consumers
        )
        rows.append(
            (s.name, s.leader or "-", replicas or "-", s.messages, s.bytes, consumers or "-")
        )
    return table(["stream", "leader", "replicas", "messages", "bytes", "consumers"], rows)


def render(found: report_check.Report) -> str:
    """The report for people: servers, JetStream, the meta group, streams."""
    lines = [f"Cluster {found.cluster}, asked through the system identity {found.identity}", ""]
    lines += [_servers(found), "", "JetStream", _jetstream(found), _meta_group(found)]
    if found.streams:
        lines += ["", "Streams", _streams(found)]
    lines += [f" ! {warning}" for warning in [*found.meta_group, *found.limits]]
    for pod in found.missing:
        lines.append(f" {CROSS} {pod} did not answer: it is down or cut off (`invoke status`)")
    return "\n".join(lines)


def report(
    spec: str | None, *, identity: str | None, as_json: bool, watch: bool, interval: float
) -> None:
    project = load(spec)
    if interval <= 0:
        raise CourtyardError(f"--interval {interval} must be more than 0 seconds")
    while True:
        found = report_check.report(project, identity)
        if as_json:
            print(json.dumps(found.to_dict(), indent=2), flush=True)
        else:
            if watch and sys.stdout.isatty():
                print(CLEAR, end="")
            print(render(found), flush=True)
            if not watch and not found.missing:
                print(
                    "Next: `invoke report --watch` to follow it, or the nats CLI with "
                    "`invoke env --identity " + found.identity + "`."
                )
        if not watch:
            break
        time.sleep(interval)
    if found.missing and not watch:
        raise CourtyardError(
            f"{', '.join(found.missing)} did not answer; the others are reported above"
        )

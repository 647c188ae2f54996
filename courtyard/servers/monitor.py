"""The nats-server monitoring endpoints, read over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from courtyard.project import naming

TIMEOUT = 2.0


@dataclass(frozen=True)
class Reply:
    status: int  # 0 when nothing answered
    body: Any  # parsed JSON, or the text, or the connection error


def get(port: int, path: str, timeout: float = TIMEOUT) -> Reply:
    url = naming.monitor_url(port, path)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Reply(0, f"no answer on 127.0.0.1:{port} ({reason})")
    text = raw.decode(errors="replace")
    try:
        return Reply(status, json.loads(text))
    except ValueError:
        return Reply(status, text.strip())


def healthz(port: int, *, js_enabled_only: bool = True) -> Reply:
    return get(port, "/healthz?js-enabled-only=true" if js_enabled_only else "/healthz")


def route_peers(routez: dict[str, Any]) -> set[str]:
    """Distinct peers a node has routes to (v2.10+ opens several routes per peer)."""
    return {route.get("remote_name", "") for route in routez.get("routes") or []} - {""}


def pool_size(varz: Any) -> int | None:
    """How many routes nats-server opens to each peer for the accounts it does not pin
    (`/varz` cluster.pool_size; 1 when pooling is off); None when /varz did not say."""
    cluster = varz.get("cluster") if isinstance(varz, dict) else None
    size = cluster.get("pool_size") if isinstance(cluster, dict) else None
    if not isinstance(size, int) or isinstance(size, bool):
        return None
    return max(size, 1)


def routes_still_opening(routez: dict[str, Any], pool_size: int) -> list[str]:
    """Peers the node has a route to but not yet all of them: fewer than `pool_size`
    pooled routes, or no route for an account it pins towards another peer ($SYS). An
    account travels on one of those routes only, so until all are up, some accounts'
    messages and interest do not cross between the two nodes."""
    pooled: dict[str, int] = {}
    pinned: dict[str, set[str]] = {}
    for route in routez.get("routes") or []:
        peer = route.get("remote_name", "")
        if not peer:
            continue
        pooled.setdefault(peer, 0)
        pinned.setdefault(peer, set())
        if route.get("account"):
            pinned[peer].add(route["account"])
        else:
            pooled[peer] += 1
    every_pin = set().union(*pinned.values())
    return sorted(p for p in pooled if pooled[p] < pool_size or pinned[p] != every_pin)


def peers_of(port: int) -> set[str]:
    """The distinct route peers of the node whose monitor port is 127.0.0.1:`port`."""
    reply = get(port, "/routez")
    return route_peers(reply.body) if isinstance(reply.body, dict) else set()

"""Ready means ready: poll every node's own health, routes and JetStream meta group.

A cluster is ready when every node
  1. answers /healthz?js-enabled-only=true with 200,
  2. has routes to every peer (distinct remote_name in /routez),
  3. agrees in /jsz on one meta leader, whose view has every peer current,
  4. sees a leader for every stream it holds, and, where it leads one, every replica current
     (right after a restart /healthz can say ok before a stream has elected its leader),
  5. answers the full /healthz with 200 (its streams and consumers are current);
and, last, JetStream places a replicated stream (courtyard/placement.py), since the
endpoints can all look ready while placement is still refused.
There are no fixed sleeps: the loop polls until the condition holds or the deadline passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from courtyard import monitor

if TYPE_CHECKING:
    from courtyard.project import Project

POLL_INTERVAL = 0.1


@dataclass
class NodeProbe:
    name: str
    port: int
    problems: list[str] = field(default_factory=list)
    server_name: str = ""
    peers: set[str] = field(default_factory=set)
    meta_leader: str = ""
    meta_current: bool = False
    health: str = ""

    @property
    def ready(self) -> bool:
        return not self.problems


def probe_node(name: str, port: int, expected: Sequence[str]) -> NodeProbe:
    probe = NodeProbe(name, port)
    health = monitor.healthz(port)
    probe.health = f"{health.status} {health.body}"
    if health.status != 200:
        probe.problems.append(f"health endpoint says {health.status or 'nothing'}: {health.body}")
        return probe
    routez = monitor.get(port, "/routez")
    if isinstance(routez.body, dict):
        probe.peers = monitor.route_peers(routez.body)
    missing = sorted(set(expected) - {name} - probe.peers)
    if missing:
        probe.problems.append(f"no route yet to {', '.join(missing)}")
    jsz = monitor.get(port, "/jsz?streams=true")
    meta = jsz.body.get("meta_cluster", {}) if isinstance(jsz.body, dict) else {}
    if isinstance(jsz.body, dict):
        probe.problems += stream_leader_problems(name, jsz.body)
    probe.meta_leader = meta.get("leader", "") or ""
    if not probe.meta_leader:
        probe.problems.append("no JetStream meta leader yet")
    elif probe.meta_leader == name:
        replicas = meta.get("replicas") or []
        # A peer the leader marks offline is refused for placement ("no suitable peers for
        # placement, peer offline") even when its log is current.
        usable = {r.get("name") for r in replicas if r.get("current") and not r.get("offline")}
        lagging = sorted(set(expected) - {name} - usable)
        probe.meta_current = not lagging
        if lagging:
            probe.problems.append(f"meta leader sees {', '.join(lagging)} not current or "
                                  "offline")
    if probe.problems:
        # The full health check logs a warning on every failure; ask it only at the end.
        return probe
    full = monitor.healthz(port, js_enabled_only=False)
    if full.status != 200:
        probe.problems.append(f"full health says {full.status}: {full.body}")
    return probe


def stream_leader_problems(name: str, jsz: dict) -> list[str]:
    """Streams this node holds that have no leader, or that it leads with lagging replicas."""
    problems = []
    for account in jsz.get("account_details") or []:
        for stream in account.get("stream_detail") or []:
            group = stream.get("cluster") or {}
            leader = group.get("leader")
            if not leader:
                problems.append(f"stream {stream.get('name')} has no leader yet")
            elif leader == name:
                lagging = [r.get("name") for r in group.get("replicas") or []
                           if not r.get("current") or r.get("offline")]
                if lagging:
                    problems.append(f"stream {stream.get('name')}: replica on "
                                    f"{', '.join(lagging)} not current")
    return problems


@dataclass
class Readiness:
    probes: list[NodeProbe]
    final_problem: str | None = None

    @property
    def leaders(self) -> set[str]:
        return {p.meta_leader for p in self.probes}

    @property
    def cluster_problems(self) -> list[str]:
        """What is wrong with the cluster as a whole once every node looks fine by itself."""
        if any(p.problems for p in self.probes):
            return []
        if len(self.leaders) != 1:
            return [f"nodes disagree on the meta leader: {', '.join(sorted(self.leaders))}"]
        return [self.final_problem] if self.final_problem else []

    @property
    def problems(self) -> list[str]:
        found = [f"{p.name}: {problem}" for p in self.probes for problem in p.problems]
        return found + self.cluster_problems

    @property
    def ready(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        leader = next(iter(self.leaders), "")
        return (f"health {len(self.probes)}/{len(self.probes)}, routes full mesh, "
                f"meta leader {leader}, every peer current, streams placed")


def check(nodes: Sequence[tuple[str, int]]) -> Readiness:
    """One probe of every (node name, monitor host port)."""
    expected = [name for name, _ in nodes]
    return Readiness([probe_node(name, port, expected) for name, port in nodes])


def wait_until_ready(
    nodes: Sequence[tuple[str, int]],
    timeout: float,
    *,
    still_alive: Callable[[], None] = lambda: None,
    final_check: Callable[[], str | None] = lambda: None,
) -> Readiness:
    """Poll until `check` passes; returns the last Readiness (ready or not) at the deadline.

    `still_alive` runs on every round and raises when a node can no longer become ready
    (its container exited), so a crash fails fast instead of waiting out the timeout.
    `final_check` runs once the endpoints look ready and returns a cluster problem or None.
    """
    deadline = time.monotonic() + timeout
    while True:
        state = check(nodes)
        if state.ready:
            state.final_problem = final_check()
        if state.ready or time.monotonic() >= deadline:
            return state
        still_alive()
        time.sleep(POLL_INTERVAL)


def wait_for_cluster(project: Project, nodes: Sequence[tuple[str, int]], timeout: float, *,
                     still_alive: Callable[[], None] = lambda: None) -> Readiness:
    """The full readiness of `invoke up`: the servers' endpoints, then JetStream placement."""
    from courtyard.placement import placement_problem

    return wait_until_ready(nodes, timeout, still_alive=still_alive,
                            final_check=lambda: placement_problem(project))

"""Ready means ready: poll every node's own health, routes and JetStream meta group.

A cluster is ready when every node
  1. answers /healthz?js-enabled-only=true with 200,
  2. has routes to every peer (distinct remote_name in /routez), all of them: the pooled
     routes /varz says it opens to each peer and a route for each account it pins (an
     account's messages and interest travel on one of them only; a fresh cluster was seen
     called ready with 5 of 8 routes up),
  3. agrees in /jsz on one meta leader, a node of the spec, whose view has every peer
     current,
  4. sees a leader for every stream it holds, and, where it leads one, every replica current
     (right after a restart /healthz can say ok before a stream has elected its leader),
  5. answers the full /healthz with 200 (its streams and consumers are current);
and, last, JetStream places a replicated stream (courtyard/checks/placement.py), since the
endpoints can all look ready while placement is still refused.

The verdicts (`judge_node`, `Readiness`) are pure functions of the endpoints' answers, so
each rule is unit-tested on canned answers; `probe_node` fetches them. Three waits, each
through `courtyard.core.polling`, from the outside in:

- `wait_ready`: the one to use for Courtyard's containers; it fails fast when a container
  exits and, when it gives up, raises `NotReadyError` naming each node that is not ready,
  what its health endpoint says and its last log lines;
- `poll_cluster`: the same verdict for servers that are no containers (the bare-process
  benchmark), returning the last `Readiness` instead of raising;
- `poll_endpoints`: the loop both use, with the final check (foreign peers, placement)
  given by the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import docker

from courtyard.checks.placement import LOGIN_REFUSED, placement_problem
from courtyard.checks.resources import (
    cluster_account_limit_warnings,
    is_store_full,
    store_problems,
)
from courtyard.core.errors import CourtyardError
from courtyard.core.polling import WaitTimeout, poll
from courtyard.project.limits import account_limits
from courtyard.project.loaded import Project
from courtyard.runtime import docker_objects
from courtyard.servers import jsz as jsz_reader
from courtyard.servers import monitor
from courtyard.servers.jsz import Jsz

POLL_INTERVAL = 0.1
ALIVE_INTERVAL = 1.0  # seconds between asking the engine whether a node exited


class NotReadyError(CourtyardError):
    """The cluster did not become ready; `diagnosis` says which node and why."""

    def __init__(self, message: str, diagnosis: str) -> None:
        super().__init__(message)
        self.diagnosis = diagnosis


@dataclass
class NodeProbe:
    name: str
    port: int
    problems: list[str] = field(default_factory=list)
    peers: set[str] = field(default_factory=set)
    meta_leader: str = ""
    meta_current: bool = False
    health: str = ""

    @property
    def ready(self) -> bool:
        return not self.problems


def judge_node(
    name: str,
    port: int,
    expected: Sequence[str],
    health: monitor.Reply,
    routez: Any = None,
    jsz: Any = None,
    full: monitor.Reply | None = None,
    pool_size: int | None = None,
) -> NodeProbe:
    """The verdict on one node from its endpoints' answers (`full`: the full /healthz, asked
    only once everything else is fine, since each failure logs a warning on the server;
    `pool_size`: the routes it opens to each peer, from /varz)."""
    probe = NodeProbe(name, port, health=f"{health.status} {health.body}")
    if health.status != 200:
        probe.problems.append(f"health endpoint says {health.status or 'nothing'}: {health.body}")
        return probe
    if isinstance(routez, dict):
        probe.peers = monitor.route_peers(routez)
    missing = sorted(set(expected) - {name} - probe.peers)
    if missing:
        probe.problems.append(f"no route yet to {', '.join(missing)}")
    elif isinstance(routez, dict) and pool_size is not None:
        opening = monitor.routes_still_opening(routez, pool_size)
        if opening:
            probe.problems.append(f"routes to {', '.join(opening)} still opening")
    answer = jsz if isinstance(jsz, Jsz) else Jsz.parse(jsz)
    probe.problems += store_problems(answer)
    probe.problems += stream_leader_problems(name, answer, expected)
    probe.meta_leader = answer.meta_leader
    if not probe.meta_leader:
        probe.problems.append("no JetStream meta leader yet")
    elif probe.meta_leader not in expected:
        # A removed node (after a scale-down) or a server that is no node of the spec.
        probe.problems.append(f"meta leader {probe.meta_leader} is not a node of this cluster")
    elif probe.meta_leader == name:
        # A peer the leader marks offline is refused for placement ("no suitable peers for
        # placement, peer offline") even when its log is current.
        usable = {r.name for r in answer.meta_replicas if r.usable}
        lagging = sorted(set(expected) - {name} - usable)
        probe.meta_current = not lagging
        if lagging:
            probe.problems.append(f"meta leader sees {', '.join(lagging)} not current or offline")
    if not probe.problems and full is not None and full.status != 200:
        probe.problems.append(f"full health says {full.status}: {full.body}")
    return probe


def stream_leader_problems(name: str, jsz: Jsz, expected: Sequence[str] | None = None) -> list[str]:
    """Streams this node holds that have no leader, or that it leads with lagging replicas
    on nodes of the spec (`expected`; a replica on a node scaled away stays offline)."""
    problems = []
    for stream in jsz.streams():
        if not stream.leader:
            problems.append(f"stream {stream.name} has no leader yet")
        elif stream.leader == name:
            lagging = [
                r.name
                for r in stream.replicas
                if not r.usable and (expected is None or r.name in expected)
            ]
            if lagging:
                problems.append(
                    f"stream {stream.name}: replica on {', '.join(lagging)} not current"
                )
    return problems


def probe_node(name: str, port: int, expected: Sequence[str]) -> NodeProbe:
    """Ask one node's endpoints (on 127.0.0.1:`port`) and judge the answers."""
    health = monitor.healthz(port)
    if health.status != 200:
        return judge_node(name, port, expected, health)
    routez = monitor.get(port, "/routez").body
    pool = monitor.pool_size(monitor.get(port, "/varz").body)
    jsz = jsz_reader.fetch(port)
    probe = judge_node(name, port, expected, health, routez, jsz, pool_size=pool)
    if not probe.ready:
        return probe
    full = monitor.healthz(port, js_enabled_only=False)
    return judge_node(name, port, expected, health, routez, jsz, full, pool)


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
        return (
            f"health {len(self.probes)}/{len(self.probes)}, routes full mesh, "
            f"meta leader {leader}, every peer current, streams placed"
        )


def check(targets: Sequence[tuple[str, int]], *, until_first_problem: bool = False) -> Readiness:
    """One probe of every (node name, monitor host port).

    With `until_first_problem` the probes stop at the first node that is not ready: the
    answer is the same (not ready), but a cluster that is still electing is asked one
    question a round instead of one per node.
    """
    expected = [name for name, _ in targets]
    probes = []
    for name, port in targets:
        probes.append(probe_node(name, port, expected))
        if until_first_problem and not probes[-1].ready:
            break
    return Readiness(probes)


def poll_endpoints(
    targets: Sequence[tuple[str, int]],
    timeout: float,
    *,
    still_alive: Callable[[], None] = lambda: None,
    final_check: Callable[[], str | None] = lambda: None,
) -> Readiness:
    """Poll until `check` passes; returns the last Readiness (ready or not) at the deadline.

    The wait is light on purpose: a freshly started cluster elects its meta leader while the
    route mesh keeps every core busy, and nats-server's first election needs every node's
    vote in time (a lost one costs an election timeout, about 5 s), so the poll leaves the
    servers what CPU it can. Each round stops at the first node that is not ready, and
    `still_alive` (which asks the Docker engine whether a node's container exited, so that a
    crash fails fast instead of waiting out the timeout) runs at most once every
    ALIVE_INTERVAL seconds. `final_check` runs once the endpoints look ready and returns a
    problem or None. At the deadline every node is probed once more, so the answer names
    each node that is not ready.
    """
    alive_checked = [time.monotonic()]

    def judged(state: Readiness) -> Readiness:
        if state.ready:
            state.final_problem = final_check()
        return state

    def ask() -> Readiness:
        state = judged(check(targets, until_first_problem=True))
        if not state.ready and time.monotonic() - alive_checked[0] >= ALIVE_INTERVAL:
            alive_checked[0] = time.monotonic()
            still_alive()
        return state

    try:
        return poll(
            ask,
            what="the cluster to be ready",
            timeout=timeout,
            interval=POLL_INTERVAL,
            done=lambda state: state.ready,
        )
    except WaitTimeout:
        return judged(check(targets))


def poll_cluster(
    project: Project,
    targets: Sequence[tuple[str, int]],
    timeout: float,
    *,
    still_alive: Callable[[], None] = lambda: None,
) -> Readiness:
    """The full readiness of `invoke up`: the servers' endpoints, then JetStream placement."""
    return poll_endpoints(
        targets,
        timeout,
        still_alive=still_alive,
        final_check=lambda: foreign_peers_problem(project, targets) or placement_problem(project),
    )


def foreign_peers(project: Project, peers: set[str]) -> list[str]:
    """The route peers that are no node of the spec (a server that joined as a route)."""
    return sorted(peers - set(project.names.pods))


def foreign_peers_problem(project: Project, targets: Sequence[tuple[str, int]]) -> str | None:
    """None when every route of `targets` leads to a node of the spec; else who has which."""
    found = []
    for pod, port in targets:
        strangers = foreign_peers(project, monitor.peers_of(port))
        if strangers:
            found.append(f"{pod} has routes to {', '.join(strangers)}")
    if not found:
        return None
    return (
        f"{'; '.join(found)}, which {'is' if len(found) == 1 else 'are'} no node of the spec: "
        "a server that is none of them joined as a route"
    )


def _fail_if_exited(client: docker.DockerClient, names: Sequence[str]) -> Callable[[], None]:
    def still_alive() -> None:
        for name in names:
            container = docker_objects.get_container(client, name)
            if container is None or container.status in ("exited", "dead"):
                code = container.attrs["State"].get("ExitCode") if container else "gone"
                tail = docker_objects.log_tail(container) if container else ""
                raise NotReadyError(
                    f"node {name} stopped while starting (exit code {code}); its last log "
                    "lines are above; fix the cause and run `invoke up` again",
                    f"--- last log lines of {name} ---\n{tail}",
                )

    return still_alive


def wait_ready(
    client: docker.DockerClient,
    project: Project,
    targets: Sequence[tuple[str, int]],
    timeout: float,
) -> str:
    """Wait until the cluster of `targets` is ready; its summary, else NotReadyError that
    names each node that is not ready, what its health endpoint says and its last logs."""
    pods = [name for name, _ in targets]
    state = poll_cluster(project, targets, timeout, still_alive=_fail_if_exited(client, pods))
    if state.ready:
        return state.summary()
    lines = []
    for probe in state.probes:
        if probe.ready:
            continue
        container = docker_objects.get_container(client, probe.name)
        tail = docker_objects.log_tail(container) if container else "-"
        lines.append(f"--- {probe.name} is not ready: {'; '.join(probe.problems)}")
        lines.append(f"    health endpoint: {probe.health}")
        lines.append(f"    last 20 log lines:\n{tail}")
    lines += [f"--- {problem}" for problem in state.cluster_problems]
    limits = account_limits(project.spec)
    lines += [f"--- {w}" for w in cluster_account_limit_warnings(limits, targets)]
    raise NotReadyError(not_ready_sentence(state, timeout), "\n".join(lines))


def not_ready_sentence(state: Readiness, timeout: float) -> str:
    """Why `up` gave up, in one sentence: a full store and a refused login are no slow
    machine, so only the rest suggests a longer --timeout."""
    failing = [p.name for p in state.probes if not p.ready]
    who = (
        f"{', '.join(failing)} {'is' if len(failing) == 1 else 'are'}"
        if failing
        else ("the cluster is")
    )
    full = [p.name for p in state.probes if any(is_store_full(q) for q in p.problems)]
    if full:
        return (
            f"{who} not ready after {timeout:.0f}s because the JetStream store of "
            f"{', '.join(full)} is full (not a slow machine); purge or delete data, or raise "
            "the store size in the spec; the diagnosis is above"
        )
    if state.final_problem == LOGIN_REFUSED:
        return (
            f"{who} not ready after {timeout:.0f}s because {LOGIN_REFUSED} (not a slow "
            "machine): the users the configs name match no certificate subject; check "
            "tls.subject in the spec and run `invoke up` again"
        )
    return (
        f"{who} not ready after {timeout:.0f}s; the diagnosis is above "
        "(raise --timeout if the machine is just slow)"
    )

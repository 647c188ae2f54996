"""`invoke status`: one row per node from Docker and from the servers' own endpoints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import docker

from courtyard.artefacts import certs
from courtyard.checks import readiness
from courtyard.checks.drift import drift_reasons
from courtyard.checks.meta_group import departed_peers_warning
from courtyard.checks.resources import cluster_account_limit_warnings, store_problems
from courtyard.checks.stale_certs import stale_reasons
from courtyard.project.limits import account_limits
from courtyard.project.loaded import Project
from courtyard.runtime import docker_objects, link_faults
from courtyard.runtime.ownership import Owner, owner_of
from courtyard.runtime.plan import missing_aliases
from courtyard.servers import jsz as jsz_reader
from courtyard.servers import monitor


@dataclass
class NodeStatus:
    node: str
    container: str
    server_name: str = "-"
    peers: str = "-"
    meta_leader: str = "-"
    streams: int | str = "-"
    consumers: int | str = "-"
    messages: int | str = "-"
    bytes: int | str = "-"
    cert_expires: str = "-"


@dataclass
class ClusterStatus:
    cluster: str
    spec: str
    nodes: list[NodeStatus]
    healthy: bool
    problems: list[str]
    warnings: list[str] = field(default_factory=list)  # true, but not unhealthy

    def to_dict(self) -> dict[str, object]:
        return {
            "cluster": self.cluster,
            "spec": self.spec,
            "healthy": self.healthy,
            "problems": self.problems,
            "warnings": self.warnings,
            "nodes": [asdict(n) for n in self.nodes],
        }


_REMEDY = {
    "paused": "; `invoke up` unpauses it",
    "absent": "; `invoke up` creates it",
    "exited": "; `invoke up` starts it",
    "created": "; `invoke up` starts it",
    "dead": "; `invoke up` replaces it",
}


def leader_disagreements(rows: list[NodeStatus]) -> list[str]:
    """What the nodes disagree on about the meta leader, instead of trusting one answer:
    different names, or a name whose container does not run."""
    said = {row.node: row.meta_leader for row in rows if row.meta_leader != "-"}
    problems = []
    if len(set(said.values())) > 1:
        answers = ", ".join(f"{node} says {leader}" for node, leader in said.items())
        problems.append(f"nodes disagree on the JetStream meta leader: {answers}")
    states = {row.node: row.container for row in rows}
    for leader in sorted(set(said.values())):
        if leader in states and not states[leader].startswith("running"):
            named_by = ", ".join(node for node, named in said.items() if named == leader)
            problems.append(
                f"{named_by} still name {leader} as meta leader, but its container is "
                f"{states[leader]}; a new leader is not elected yet"
            )
    running = sum(state.startswith("running") for state in states.values())
    if said and running <= len(rows) // 2:
        leaders = ", ".join(sorted(set(said.values())))
        problems.append(
            f"only {running} of {len(rows)} nodes run, too few for a JetStream quorum; "
            f"the meta leader reported ({leaders}) cannot lead"
        )
    return problems


def _container_problems(project: Project, index: int, container, row: NodeStatus) -> list[str]:
    """What the engine and the node's records say is wrong with a running node's container:
    lost aliases, a fault on its links, a drifted config, old certificates (each marked in
    `row.container`)."""
    names, pod = project.names, project.names.pod(index)
    problems = []
    lost = missing_aliases(container, names.network, names.aliases(index))
    if lost:
        row.container += ", aliases lost"
        others = f" and {len(lost) - 1} more of its names" if len(lost) > 1 else ""
        problems.append(
            f"{pod}: peers cannot resolve it as {lost[0]}{others}; `invoke up` reconnects it"
        )
    faults = link_faults.applied(container)
    if faults:
        row.container += f", {'+'.join(faults)}"
        problems.append(f"{pod}: fault on its links ({', '.join(faults)}); `invoke up` heals it")
    if owner_of(container.labels, names.fullname) is Owner.OURS:
        drift = drift_reasons(project, index)
        if drift:
            row.container += ", drifted"
            problems += [f"{pod}: {reason}; `invoke up` rolls it" for reason in drift]
        stale = [] if drift else stale_reasons(project, index)
        if stale:
            row.container += ", old certificates"
            problems += [f"{pod}: {reason}; `invoke up` reloads it" for reason in stale]
    return problems


def _server_answers(project: Project, port: int, row: NodeStatus) -> list[str]:
    """The node's own endpoints fill in its row; returns its full stores, which are named
    whatever else is wrong (a full store is often why the leaders disagree), and routes to
    servers that are no node of the spec."""
    varz = monitor.get(port, "/varz").body
    if isinstance(varz, dict):
        row.server_name = varz.get("server_name", "-")
    routez = monitor.get(port, "/routez").body
    strangers: list[str] = []
    if isinstance(routez, dict):
        peers = monitor.route_peers(routez)
        row.peers = f"{len(peers)}/{project.spec.replicas - 1}"
        strangers = readiness.foreign_peers(project, peers)
    jsz = jsz_reader.fetch(port)
    if jsz.answered:
        row.meta_leader = jsz.meta_leader or "-"
        row.streams, row.consumers = jsz.total("streams"), jsz.total("consumers")
        row.messages, row.bytes = jsz.total("messages"), jsz.total("bytes")
    found = [f"{row.node}: {problem}" for problem in store_problems(jsz)]
    if strangers:
        found.append(
            f"{row.node}: routes to {', '.join(strangers)}, no node of the spec (a server "
            "that is none of them joined as a route; find and stop it)"
        )
    return found


def cluster_status(client: docker.DockerClient, project: Project) -> ClusterStatus:
    names, spec = project.names, project.spec
    layout = project.layout
    expiry = certs.earliest_expiry([layout.cert("server"), layout.cert("route")])
    rows, problems, targets, full_stores = [], [], [], []
    containers = docker_objects.node_containers(client, project)
    down = docker_objects.not_running(names.pods, containers)
    for index, (pod, container) in enumerate(zip(names.pods, containers, strict=True)):
        state = container.status if container is not None else "absent"
        if container is not None and owner_of(container.labels, names.fullname) is Owner.COMPOSE:
            state += " (compose)"
        row = NodeStatus(pod, state, cert_expires=expiry)
        rows.append(row)
        if pod in down:
            problems.append(f"{pod}: container {row.container}{_REMEDY.get(state, '')}")
            continue
        problems += _container_problems(project, index, container, row)
        port = names.monitor_host_port(index)
        targets.append((pod, port))
        full_stores += _server_answers(project, port, row)
    problems += leader_disagreements(rows) + full_stores
    if targets and not problems:
        problems += readiness.check(targets).problems
    warnings = [
        f"{item.path.name} ({item.label}) expires in {item.days_left} days; renew it with "
        f"`{item.renew}`"
        for item in certs.expiring(spec, names, layout)
    ]
    warnings += cluster_account_limit_warnings(account_limits(spec), targets)
    departed = departed_peers_warning(targets, names) if targets else None
    warnings += [departed] if departed else []
    return ClusterStatus(
        names.fullname,
        str(spec.path),
        rows,
        healthy=not problems,
        problems=problems,
        warnings=warnings,
    )

"""`invoke status`: one row per node from Docker and from the servers' own endpoints."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from courtyard import monitor, pki, readiness, runtime
from courtyard.engine import connect
from courtyard.project import Project


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

    def to_dict(self) -> dict[str, object]:
        return {"cluster": self.cluster, "spec": self.spec, "healthy": self.healthy,
                "problems": self.problems, "nodes": [asdict(n) for n in self.nodes]}


def _cert_expiry(project: Project) -> str:
    layout = project.layout
    dates = [pki.load_cert(p).not_valid_after_utc for p in (layout.cert("server"),
                                                            layout.cert("route")) if p.exists()]
    return min(dates).date().isoformat() if dates else "missing"


def cluster_status(project: Project) -> ClusterStatus:
    client = connect()
    names, spec = project.names, project.spec
    expiry = _cert_expiry(project)
    rows, problems, targets = [], [], []
    for index, pod in enumerate(names.pods):
        container = runtime.get_container(client, pod)
        owned = container is not None and runtime.carries_cluster_labels(container.labels,
                                                                         project)
        state = container.status if owned else "absent"
        if owned and runtime.owner_of(container.labels, project) is runtime.Owner.COMPOSE:
            state += " (compose)"
        row = NodeStatus(pod, state, cert_expires=expiry)
        rows.append(row)
        if not owned or container.status != "running":
            problems.append(f"{pod}: container {row.container}")
            continue
        port = spec.host_ports.monitor + index
        targets.append((pod, port))
        varz = monitor.get(port, "/varz").body
        if isinstance(varz, dict):
            row.server_name = varz.get("server_name", "-")
        routez = monitor.get(port, "/routez").body
        if isinstance(routez, dict):
            row.peers = f"{len(monitor.route_peers(routez))}/{spec.replicas - 1}"
        jsz = monitor.get(port, "/jsz").body
        if isinstance(jsz, dict):
            row.meta_leader = (jsz.get("meta_cluster") or {}).get("leader") or "-"
            row.streams, row.consumers = jsz.get("streams", 0), jsz.get("consumers", 0)
            row.messages, row.bytes = jsz.get("messages", 0), jsz.get("bytes", 0)
    if targets and not problems:
        problems += readiness.check(targets).problems
    return ClusterStatus(names.fullname, str(spec.path), rows, healthy=not problems,
                         problems=problems)

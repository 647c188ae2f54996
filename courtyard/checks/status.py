"""`invoke status`: one row per node from Docker and from the servers' own endpoints."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import docker

from courtyard.artefacts import certs
from courtyard.checks import monitor, readiness
from courtyard.runtime import docker_objects
from courtyard.runtime.ownership import Owner, owner_of
from courtyard.spec.project import Project


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
        return {
            "cluster": self.cluster,
            "spec": self.spec,
            "healthy": self.healthy,
            "problems": self.problems,
            "nodes": [asdict(n) for n in self.nodes],
        }


def cluster_status(client: docker.DockerClient, project: Project) -> ClusterStatus:
    names, spec = project.names, project.spec
    layout = project.layout
    expiry = certs.earliest_expiry([layout.cert("server"), layout.cert("route")])
    rows, problems, targets = [], [], []
    containers = docker_objects.node_containers(client, project)
    for index, (pod, container) in enumerate(zip(names.pods, containers, strict=True)):
        state = container.status if container is not None else "absent"
        if container is not None and owner_of(container.labels, names.fullname) is Owner.COMPOSE:
            state += " (compose)"
        row = NodeStatus(pod, state, cert_expires=expiry)
        rows.append(row)
        if container is None or container.status != "running":
            problems.append(f"{pod}: container {row.container}")
            continue
        port = names.monitor_host_port(index)
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
    return ClusterStatus(
        names.fullname, str(spec.path), rows, healthy=not problems, problems=problems
    )

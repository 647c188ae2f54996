"""Docker objects of one cluster: find them, tell whose they are, create and remove them.

Courtyard only ever stops, removes or reuses objects that carry its labels for this cluster;
anything else with a clashing name is reported and left alone.
"""

from __future__ import annotations

import socket
from enum import Enum

import docker
from docker.errors import NotFound
from docker.models.containers import Container

from courtyard import naming
from courtyard.errors import CourtyardError
from courtyard.nodes import HASH_LABEL, NodeSpec
from courtyard.project import Project

COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
STOP_TIMEOUT = 10


class Owner(Enum):
    OURS = "this Courtyard cluster"
    COMPOSE = "Docker Compose"
    FOREIGN = "something other than Courtyard"


def owner_of(labels: dict[str, str] | None, project: Project) -> Owner:
    labels = labels or {}
    if labels.get(COMPOSE_PROJECT_LABEL):
        return Owner.COMPOSE
    if (labels.get(naming.MANAGED_LABEL) == "true"
            and labels.get(naming.CLUSTER_LABEL) == project.names.fullname):
        return Owner.OURS
    return Owner.FOREIGN


def carries_cluster_labels(labels: dict[str, str] | None, project: Project) -> bool:
    """Made from this cluster's spec, by `invoke up` or by the exported Compose file.

    Read-only tasks (status, logs, smoke) accept both; data volumes are shared by both, so
    switching between them keeps the JetStream data. Containers are adopted only by `up`.
    """
    labels = labels or {}
    return (labels.get(naming.MANAGED_LABEL) == "true"
            and labels.get(naming.CLUSTER_LABEL) == project.names.fullname)


def cluster_filter(project: Project) -> dict[str, list[str]]:
    return {"label": [f"{naming.MANAGED_LABEL}=true",
                      f"{naming.CLUSTER_LABEL}={project.names.fullname}"]}


def get_container(client: docker.DockerClient, name: str) -> Container | None:
    try:
        container = client.containers.get(name)
    except NotFound:
        return None
    # get() also matches by id prefix; only an exact name counts.
    return container if container.name == name else None


def our_containers(client: docker.DockerClient, project: Project) -> list[Container]:
    found = client.containers.list(all=True, filters=cluster_filter(project))
    return [c for c in found if owner_of(c.labels, project) is Owner.OURS]


def get_network(client: docker.DockerClient, name: str):
    return next((n for n in client.networks.list(names=[name]) if n.name == name), None)


def get_volume(client: docker.DockerClient, name: str):
    try:
        return client.volumes.get(name)
    except NotFound:
        return None


def refuse_foreign(kind: str, name: str, owner: Owner, project: Project) -> None:
    if owner is Owner.COMPOSE:
        raise CourtyardError(
            f"{kind} {name} was created by Docker Compose; `invoke up` does not adopt it. Run "
            f"`docker compose -f compose/docker-compose.yml down` first, then `invoke up`"
        )
    if owner is Owner.FOREIGN:
        raise CourtyardError(
            f"a {kind} named {name} already exists and was not created by Courtyard; "
            f"Courtyard leaves it alone: remove or rename it, or change `release` in "
            f"{project.spec.path.name}"
        )


def check_names(client: docker.DockerClient, project: Project,
                nodes: list[NodeSpec]) -> tuple[dict[str, Container | None], object | None]:
    """Every name the cluster needs is free or ours; returns our containers and network.

    Data volumes made from this spec by Compose are accepted (they hold the same data);
    containers and networks must be this cluster's own.
    """
    existing: dict[str, Container | None] = {}
    for node in nodes:
        container = get_container(client, node.name)
        if container is not None:
            refuse_foreign("container", node.name, owner_of(container.labels, project), project)
        existing[node.name] = container
    network = get_network(client, project.names.network)
    if network is not None:
        labels = network.attrs.get("Labels")
        refuse_foreign("network", network.name, owner_of(labels, project), project)
    for node in nodes:
        volume = get_volume(client, node.volume)
        labels = volume.attrs.get("Labels") if volume is not None else None
        if volume is not None and not carries_cluster_labels(labels, project):
            refuse_foreign("volume", node.volume, owner_of(labels, project), project)
    return existing, network


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def published_ports(container: Container) -> set[int]:
    bindings = (container.attrs.get("HostConfig") or {}).get("PortBindings") or {}
    return {int(b["HostPort"]) for entries in bindings.values() for b in entries or []
            if b.get("HostPort")}


def check_ports(nodes: list[NodeSpec], held_by_us: set[int]) -> None:
    """Every host port the nodes need is free, or already published by our own containers."""
    for node in nodes:
        for container_port, host_port in node.ports:
            if host_port not in held_by_us and not port_is_free(host_port):
                raise CourtyardError(
                    f"port 127.0.0.1:{host_port} (for {node.name}:{container_port}) is already "
                    "in use; free it or change host_ports in the spec"
                )


def ensure_network(client: docker.DockerClient, project: Project) -> bool:
    """Create the cluster's bridge network unless it exists (check_names vetted it first);
    True when created."""
    name = project.names.network
    if get_network(client, name) is not None:
        return False
    client.networks.create(name, driver="bridge", labels=project.names.labels(project.spec_file),
                           check_duplicate=True)
    return True


def ensure_volume(client: docker.DockerClient, project: Project, name: str) -> bool:
    """Create a node's data volume unless it exists (check_names vetted it first)."""
    if get_volume(client, name) is not None:
        return False
    client.volumes.create(name, labels=project.names.labels(project.spec_file))
    return True


def create_node(client: docker.DockerClient, node: NodeSpec) -> Container:
    """Create (not start) the container of one node, with its hash label."""
    api = client.api
    binds = {str(host): {"bind": path, "mode": "ro"} for path, host in node.mounts}
    binds[node.volume] = {"bind": naming.STORE_DIR, "mode": "rw"}
    host_config = api.create_host_config(
        binds=binds,
        port_bindings={port: ("127.0.0.1", host_port) for port, host_port in node.ports},
    )
    networking = api.create_networking_config(
        {node.network: api.create_endpoint_config(aliases=list(node.aliases))}
    )
    created = api.create_container(
        image=node.image, name=node.name, hostname=node.name, entrypoint=node.entrypoint,
        command=node.command, labels={**dict(node.labels), HASH_LABEL: node.fingerprint()},
        ports=[port for port, _ in node.ports], host_config=host_config,
        networking_config=networking,
    )
    return client.containers.get(created["Id"])


def remove_container(container: Container) -> None:
    if container.status == "running":
        container.stop(timeout=STOP_TIMEOUT)
    container.remove(v=False, force=True)


def log_tail(container: Container, lines: int = 20) -> str:
    try:
        return container.logs(tail=lines).decode(errors="replace").rstrip()
    except (NotFound, docker.errors.APIError):
        return "(no logs: the container is gone)"


def purge(client: docker.DockerClient, fullname: str) -> None:
    """Remove every container, network and volume labelled with cluster `fullname`.

    For throw-away clusters (tests, benchmarks) whose names are unique to their run; users
    have `invoke down`, which is stricter about whose objects it touches.
    """
    labels = {"label": [f"{naming.CLUSTER_LABEL}={fullname}"]}
    for container in client.containers.list(all=True, filters=labels):
        container.remove(force=True)
    for network in client.networks.list(filters=labels):
        network.remove()
    for volume in client.volumes.list(filters=labels):
        volume.remove(force=True)

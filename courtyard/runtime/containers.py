"""The one way Courtyard creates a container: every port on 127.0.0.1, one network, labels.

Nodes (`docker_objects.create_node`), a rendered chart's pods (`helm/pods.py`) and probe
nodes (`extra_node.py`) all describe what they need as a `ContainerDefinition`; `create`
turns it into the engine's request. So no container of Courtyard's publishes a port on any
address but 127.0.0.1, and each joins exactly one network under the aliases it was given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import docker
from docker.models.containers import Container

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ContainerDefinition:
    image: str
    name: str
    network: str
    labels: Mapping[str, str]
    aliases: Sequence[str] = ()
    entrypoint: Sequence[str] | None = None
    command: Sequence[str] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    read_only: Mapping[str, str] = field(default_factory=dict)  # host path -> container path
    volumes: Mapping[str, str] = field(default_factory=dict)  # volume name -> container path
    tmpfs: Sequence[str] = ()  # container paths
    # container port ("4222/tcp" or 4222) -> host port on 127.0.0.1 (None: any free one)
    ports: Mapping[str | int, int | None] = field(default_factory=dict)


def create(client: docker.DockerClient, definition: ContainerDefinition) -> Container:
    """Create (not start) the container `definition` describes."""
    api = client.api
    binds = {host: {"bind": path, "mode": "ro"} for host, path in definition.read_only.items()}
    binds.update(
        {volume: {"bind": path, "mode": "rw"} for volume, path in definition.volumes.items()}
    )
    host_config = api.create_host_config(
        binds=binds,
        port_bindings={port: (LOOPBACK, host) for port, host in definition.ports.items()},
        tmpfs={path: "" for path in definition.tmpfs} or None,
    )
    networking = api.create_networking_config(
        {definition.network: api.create_endpoint_config(aliases=list(definition.aliases))}
    )
    created = api.create_container(
        image=definition.image,
        name=definition.name,
        hostname=definition.name,
        entrypoint=list(definition.entrypoint) if definition.entrypoint is not None else None,
        command=list(definition.command),
        environment=dict(definition.environment) or None,
        labels=dict(definition.labels),
        ports=list(definition.ports),
        host_config=host_config,
        networking_config=networking,
    )
    return client.containers.get(created["Id"])


def published_port(container: Container, port: str) -> int:
    """The host port on 127.0.0.1 the engine chose for the container's `port` ("8222/tcp")."""
    container.reload()
    bound = container.attrs["NetworkSettings"]["Ports"][port]
    return int(bound[0]["HostPort"])

"""`invoke down`: remove this cluster's containers and network; data volumes only when asked."""

from __future__ import annotations

from dataclasses import dataclass

import docker
from docker.models.containers import Container

from courtyard.project.loaded import Project
from courtyard.runtime import docker_objects, start_gate
from courtyard.runtime.ownership import Owner, carries_cluster_labels, owner_of


@dataclass(frozen=True)
class DownReport:
    containers: list[str]
    network: bool
    volumes: list[str]
    left_alone: list[str]


def remove_all(containers: list[Container]) -> None:
    """Stop and remove containers side by side (the engine stops each in its own time)."""
    docker_objects.in_parallel([lambda c=c: docker_objects.remove_container(c) for c in containers])


def down(client: docker.DockerClient, project: Project, *, volumes: bool = False) -> DownReport:
    """Stop and remove this cluster's containers and network; volumes only when asked."""
    names = project.names
    containers = docker_objects.our_containers(client, project)
    remove_all(containers)
    start_gate.disarm(project.layout, names.pods)
    network = docker_objects.get_network(client, names.network)
    removed_network = False
    left_alone = []
    if network is not None:
        if owner_of(network.attrs.get("Labels"), names.fullname) is Owner.OURS:
            for ours in docker_objects.get_networks(client, names.network):
                if owner_of(ours.attrs.get("Labels"), names.fullname) is Owner.OURS:
                    docker_objects.remove_network(ours)
            removed_network = True
        else:
            left_alone.append(f"network {network.name}")
    for pod in names.pods:
        container = docker_objects.get_container(client, pod)
        if container is not None and owner_of(container.labels, names.fullname) is not Owner.OURS:
            left_alone.append(f"container {pod}")
    removed_volumes = []
    if volumes:
        for volume in client.volumes.list(filters=names.selector):
            if carries_cluster_labels(volume.attrs.get("Labels"), names.fullname):
                volume.remove(force=True)
                removed_volumes.append(volume.name)
        # With the JetStream state gone, no node is a removed peer of a meta group any more.
        project.layout.forgotten_peers.unlink(missing_ok=True)
    return DownReport([c.name for c in containers], removed_network, removed_volumes, left_alone)

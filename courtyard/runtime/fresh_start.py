"""Undo a fresh bootstrap: the nodes' containers go, their data volumes come back empty.

`invoke up` does this only after a full cold start on volumes it created in the same run,
once every server said its meta group never had a leader and stored nothing
(courtyard/checks/first_round.py): the volumes hold no more than the servers' empty Raft
state, and emptying them lets the servers bootstrap (and campaign early) again.
"""

from __future__ import annotations

from collections.abc import Sequence

import docker

from courtyard.artefacts.node_containers import NodeDefinition
from courtyard.core.errors import CourtyardError
from courtyard.project.loaded import Project
from courtyard.runtime import docker_objects
from courtyard.runtime.ownership import carries_cluster_labels


def empty_and_remove(
    client: docker.DockerClient, project: Project, nodes: Sequence[NodeDefinition]
) -> None:
    """Kill and remove the nodes' containers (their servers hold nothing worth a graceful
    stop), then give each node a new, empty volume of the same name and labels."""
    gone = [
        container
        for node in nodes
        if (container := docker_objects.get_container(client, node.name)) is not None
    ]
    docker_objects.in_parallel(
        [lambda c=c: docker_objects.ignore_gone(lambda: c.remove(force=True)) for c in gone]
    )
    for node in nodes:
        volume = docker_objects.get_volume(client, node.volume)
        if volume is not None:
            if not carries_cluster_labels(volume.attrs.get("Labels"), project.names.fullname):
                raise CourtyardError(
                    f"volume {node.volume} is not this cluster's; remove or rename it, then "
                    "run `invoke up` again"
                )
            docker_objects.ignore_gone(lambda v=volume: v.remove(force=True))
        docker_objects.ensure_volume(client, project, node.volume)

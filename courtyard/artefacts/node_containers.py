"""What each node container is, independent of who creates it (`invoke up` or Compose).

A NodeSpec holds everything Docker needs to run one node; the Docker runtime and the Compose
export both read it, so the two cannot drift apart. Its fingerprint is computed once, when
the definition is made, from the definition and the bytes of every file it mounts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from courtyard.artefacts.nodeconf import node_mounts
from courtyard.spec import naming
from courtyard.spec.project import Project


@dataclass(frozen=True)
class NodeSpec:
    index: int
    name: str  # container name and hostname: the pod name
    image: str
    network: str
    aliases: tuple[str, ...]
    volume: str
    mounts: tuple[tuple[str, Path], ...]  # (container path, host file), all read-only
    ports: tuple[tuple[int, int], ...]  # (container port, host port on 127.0.0.1)
    labels: tuple[tuple[str, str], ...]
    fingerprint: str  # changes whenever the node must be replaced

    @property
    def entrypoint(self) -> list[str]:
        return list(naming.ENTRYPOINT)

    @property
    def command(self) -> list[str]:
        return list(naming.COMMAND)

    @property
    def client_host_port(self) -> int:
        return self.ports[0][1]

    @property
    def monitor_host_port(self) -> int:
        return self.ports[1][1]


def fingerprint(
    *,
    image: str,
    network: str,
    aliases: tuple[str, ...],
    volume: str,
    ports: tuple[tuple[int, int], ...],
    mounts: tuple[tuple[str, Path], ...],
) -> str:
    """A short hash of a node's definition and the current bytes of every file it mounts."""
    digest = hashlib.sha256()
    definition = {
        "image": image,
        "network": network,
        "aliases": aliases,
        "volume": volume,
        "ports": ports,
        "entrypoint": list(naming.ENTRYPOINT),
        "command": list(naming.COMMAND),
        "mounts": [(c, str(h)) for c, h in mounts],
    }
    digest.update(json.dumps(definition, sort_keys=True).encode())
    for _, host in mounts:
        digest.update(host.read_bytes() if host.exists() else b"<missing>")
    return digest.hexdigest()[:16]


def node_spec(project: Project, image: str, index: int) -> NodeSpec:
    names, spec = project.names, project.spec
    pod = names.pod(index)
    parts = {
        "image": image,
        "network": names.network,
        "aliases": tuple(names.aliases(index)),
        "volume": names.volume(index),
        "ports": (
            (spec.ports.client, names.client_host_port(index)),
            (spec.ports.monitor, names.monitor_host_port(index)),
        ),
        "mounts": tuple(node_mounts(project.layout, pod).items()),
    }
    return NodeSpec(
        index=index,
        name=pod,
        labels=tuple(names.labels(project.spec_file, index).items()),
        fingerprint=fingerprint(**parts),
        **parts,
    )


def node_specs(project: Project, image: str) -> list[NodeSpec]:
    """Every node of the spec; build them after the certificates and configs are written."""
    return [node_spec(project, image, i) for i in range(project.spec.replicas)]

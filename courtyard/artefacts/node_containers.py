"""What each node container is, independent of who creates it (`invoke up` or Compose).

A NodeDefinition holds everything Docker needs to run one node; the Docker runtime and the
Compose export both read it, so the two cannot drift apart. Its fingerprint is computed once, when
the definition is made, from the definition and the bytes of every file it runs with.

The chart mounts its ConfigMap as the folder /etc/nats-config; so does a node here, from
`run/<pod>/nats-config/`, which holds a copy of the generated `config/nodes/<pod>.conf`
(`sync_config_mount`). The folder, not the file, is mounted so that the runtime can turn
`nats.conf` into a start gate for a moment and back (courtyard/runtime/start_gate.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from courtyard.artefacts.files import write_file
from courtyard.artefacts.nodeconf import tls_mounts
from courtyard.project import naming
from courtyard.project.loaded import Project


@dataclass(frozen=True)
class NodeDefinition:
    index: int
    name: str  # container name and hostname: the pod name
    image: str
    network: str
    aliases: tuple[str, ...]
    volume: str
    mounts: tuple[tuple[str, Path], ...]  # (container path, host file or folder), read-only
    ports: tuple[tuple[int, int], ...]  # (container port, host port on 127.0.0.1)
    labels: tuple[tuple[str, str], ...]
    config_file: Path  # the generated config, config/nodes/<pod>.conf
    fingerprint: str  # changes whenever the node must be replaced

    @property
    def config_mount(self) -> Path:
        """The host folder mounted at the config folder."""
        return dict(self.mounts)[naming.CONFIG_DIR]

    @property
    def mounted_config(self) -> Path:
        """The config file as the node sees it (normally a copy of `config_file`)."""
        return self.config_mount / Path(naming.CONFIG_FILE).name

    @property
    def entrypoint(self) -> list[str]:
        return list(naming.ENTRYPOINT)

    @property
    def command(self) -> list[str]:
        return list(naming.COMMAND)


def fingerprint(
    *,
    image: str,
    network: str,
    aliases: tuple[str, ...],
    volume: str,
    ports: tuple[tuple[int, int], ...],
    mounts: tuple[tuple[str, Path], ...],
    config_file: Path,
) -> str:
    """A short hash of a node's definition and the bytes of its generated config. Mounted
    folders count by their path: the certificates in them change by reload, not by a new
    container (see `artefacts/secret_folders.py`)."""
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
    digest.update(config_file.read_bytes() if config_file.is_file() else b"<missing>")
    return digest.hexdigest()[:16]


def node_definition(project: Project, image: str, index: int) -> NodeDefinition:
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
            (spec.ports.cluster, names.cluster_host_port(index)),
        ),
        "mounts": (
            (naming.CONFIG_DIR, project.layout.node_config_mount(pod)),
            *tls_mounts(project.layout).items(),
        ),
        "config_file": project.layout.node_config(pod),
    }
    return NodeDefinition(
        index=index,
        name=pod,
        labels=tuple(names.labels(project.spec_file, index).items()),
        fingerprint=fingerprint(**parts),
        **parts,
    )


def node_definitions(project: Project, image: str) -> list[NodeDefinition]:
    """Every node of the spec; build them after the certificates and configs are written."""
    return [node_definition(project, image, i) for i in range(project.spec.replicas)]


def sync_config_mount(node: NodeDefinition) -> bool:
    """Make the node's mounted config folder hold exactly its generated config; True when
    the copy was (re)written. A start gate (a FIFO) is left to the runtime that armed it."""
    if node.mounted_config.is_fifo():
        return False
    return write_file(node.mounted_config, node.config_file.read_bytes())

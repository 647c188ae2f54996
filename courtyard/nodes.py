"""What each node container is, independent of who creates it (`invoke up` or Compose).

A NodeSpec holds everything Docker needs to run one node; the Docker runtime and the Compose
export both read it, so the two cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from courtyard import naming
from courtyard.nodeconf import node_mounts
from courtyard.project import Project

HASH_LABEL = f"{naming.LABEL_PREFIX}.config-hash"
ENTRYPOINT = ["nats-server"]
COMMAND = ["--config", naming.CONFIG_FILE]


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

    @property
    def entrypoint(self) -> list[str]:
        return list(ENTRYPOINT)

    @property
    def command(self) -> list[str]:
        return list(COMMAND)

    @property
    def client_host_port(self) -> int:
        return self.ports[0][1]

    @property
    def monitor_host_port(self) -> int:
        return self.ports[1][1]

    def fingerprint(self) -> str:
        """Changes whenever the node must be replaced: its definition or any file it mounts."""
        digest = hashlib.sha256()
        definition = {
            "image": self.image, "network": self.network, "aliases": self.aliases,
            "volume": self.volume, "ports": self.ports, "entrypoint": self.entrypoint,
            "command": self.command, "mounts": [(c, str(h)) for c, h in self.mounts],
        }
        digest.update(json.dumps(definition, sort_keys=True).encode())
        for _, host in self.mounts:
            digest.update(host.read_bytes() if host.exists() else b"<missing>")
        return digest.hexdigest()[:16]


def node_specs(project: Project, image: str) -> list[NodeSpec]:
    names, spec, layout = project.names, project.spec, project.layout
    return [
        NodeSpec(
            index=i,
            name=names.pod(i),
            image=image,
            network=names.network,
            aliases=tuple(names.aliases(i)),
            volume=names.volume(i),
            mounts=tuple(node_mounts(layout, names.pod(i)).items()),
            ports=((spec.ports.client, spec.host_ports.client + i),
                   (spec.ports.monitor, spec.host_ports.monitor + i)),
            labels=tuple(names.labels(project.spec_file, i).items()),
        )
        for i in range(spec.replicas)
    ]

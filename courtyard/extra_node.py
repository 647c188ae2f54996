"""A short-lived extra nats-server on the cluster's network, to probe it from the inside.

Used to prove that route names resolve and TLS routes connect (a node whose routes dial the
cluster's aliases) and that a node with a foreign route certificate is kept out.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker

from courtyard import monitor, naming, runtime
from courtyard.files import write_file
from courtyard.nodeconf import render
from courtyard.project import Project

ROLE_LABEL = f"{naming.LABEL_PREFIX}.role"


@dataclass(frozen=True)
class ExtraNode:
    name: str
    monitor_port: int
    container: object

    def peers(self) -> set[str]:
        reply = monitor.get(self.monitor_port, "/routez")
        return monitor.route_peers(reply.body) if isinstance(reply.body, dict) else set()

    def logs(self) -> str:
        return runtime.log_tail(self.container, 50)


@contextmanager
def extra_node(client: docker.DockerClient, project: Project, image: str, name: str,
               routes: list[str], cert_pem: bytes, key_pem: bytes,
               ca_pem: bytes, network: str | None = None) -> Iterator[ExtraNode]:
    """Run `name` on `network` (default: the cluster's) with the given route TLS material
    and routes; removed on exit."""
    spec = project.spec
    config = {
        "server_name": name,
        "port": spec.ports.client,
        "http_port": spec.ports.monitor,
        "cluster": {
            "name": project.names.cluster_name,
            "port": spec.ports.cluster,
            "no_advertise": True,
            "routes": routes,
            "tls": {"cert_file": "/probe/route.crt", "key_file": "/probe/route.key",
                    "ca_file": "/probe/ca.crt"},
        },
    }
    with tempfile.TemporaryDirectory(prefix="courtyard-extra-") as tmp:
        folder = Path(tmp)
        write_file(folder / "nats.conf", render(config, f"Courtyard extra node {name}"))
        write_file(folder / "route.crt", cert_pem)
        write_file(folder / "route.key", key_pem, private=True)
        write_file(folder / "ca.crt", ca_pem)
        folder.chmod(0o755)
        labels = {**project.names.labels(project.spec_file), ROLE_LABEL: "extra-node"}
        container = client.containers.run(
            image, entrypoint=["nats-server"], command=["--config", "/probe/nats.conf"],
            name=name, hostname=name, labels=labels, detach=True,
            network=network or project.names.network,
            volumes={tmp: {"bind": "/probe", "mode": "ro"}},
            ports={f"{spec.ports.monitor}/tcp": ("127.0.0.1", None)},
        )
        try:
            container.reload()
            bound = container.attrs["NetworkSettings"]["Ports"][f"{spec.ports.monitor}/tcp"]
            yield ExtraNode(name, int(bound[0]["HostPort"]), container)
        finally:
            container.remove(force=True)

"""A short-lived extra nats-server on the cluster's network, to probe it from the inside.

Used to prove that route names resolve and TLS routes connect (a node whose routes dial the
cluster's aliases) and that a node with a foreign route certificate is kept out. The checks
read its routes through its monitor port, published on 127.0.0.1.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.models.containers import Container

from courtyard.artefacts.files import write_file
from courtyard.artefacts.nodeconf import render
from courtyard.project import naming
from courtyard.project.loaded import Project
from courtyard.runtime import containers
from courtyard.runtime.docker_objects import log_tail


@dataclass(frozen=True)
class ExtraNode:
    name: str
    monitor_port: int  # on 127.0.0.1
    container: Container

    def logs(self, lines: int = 50) -> str:
        return log_tail(self.container, lines)


def _probe_config(project: Project, name: str, routes: list[str]) -> dict:
    """A node config that dials `routes` with the probe's route TLS, and serves monitoring."""
    spec = project.spec
    return {
        "server_name": name,
        "port": spec.ports.client,
        "http_port": spec.ports.monitor,
        "cluster": {
            "name": project.names.cluster_name,
            "port": spec.ports.cluster,
            "no_advertise": True,
            "routes": routes,
            "tls": {
                "cert_file": naming.PROBE_CERT_FILE,
                "key_file": naming.PROBE_KEY_FILE,
                "ca_file": naming.PROBE_CA_FILE,
            },
        },
    }


@contextmanager
def extra_node(
    client: docker.DockerClient,
    project: Project,
    image: str,
    name: str,
    routes: list[str],
    cert_pem: bytes,
    key_pem: bytes,
    ca_pem: bytes,
    network: str | None = None,
) -> Iterator[ExtraNode]:
    """Run `name` on `network` (default: the cluster's) with the given route TLS material
    and routes; removed on exit."""
    spec = project.spec
    config = _probe_config(project, name, routes)
    with tempfile.TemporaryDirectory(prefix="courtyard-extra-") as tmp:
        folder = Path(tmp)
        for file, data in (
            (naming.PROBE_CONFIG_FILE, render(config, f"Courtyard extra node {name}")),
            (naming.PROBE_CERT_FILE, cert_pem),
            (naming.PROBE_CA_FILE, ca_pem),
        ):
            write_file(folder / Path(file).name, data)
        write_file(folder / Path(naming.PROBE_KEY_FILE).name, key_pem, private=True)
        folder.chmod(0o755)
        labels = {**project.names.labels(project.spec_file), naming.ROLE_LABEL: "extra-node"}
        monitor = f"{spec.ports.monitor}/tcp"
        container = containers.create(
            client,
            containers.ContainerDefinition(
                image=image,
                name=name,
                network=network or project.names.network,
                labels=labels,
                entrypoint=naming.ENTRYPOINT,
                command=["--config", naming.PROBE_CONFIG_FILE],
                read_only={tmp: naming.PROBE_DIR},
                ports={monitor: None},
            ),
        )
        try:
            container.start()
            yield ExtraNode(name, containers.published_port(container, monitor), container)
        finally:
            container.remove(force=True)

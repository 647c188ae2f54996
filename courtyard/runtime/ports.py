"""Host ports on 127.0.0.1: is one free, which ones does a container publish."""

from __future__ import annotations

import socket
from collections.abc import Iterable

from docker.models.containers import Container

from courtyard.artefacts.node_containers import NodeSpec
from courtyard.core.errors import CourtyardError


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
    return {
        int(b["HostPort"])
        for entries in bindings.values()
        for b in entries or []
        if b.get("HostPort")
    }


def check_ports(nodes: Iterable[NodeSpec], held_by_us: set[int]) -> None:
    """Every host port the nodes need is free, or already published by our own containers."""
    for node in nodes:
        for container_port, host_port in node.ports:
            if host_port not in held_by_us and not port_is_free(host_port):
                raise CourtyardError(
                    f"port 127.0.0.1:{host_port} (for {node.name}:{container_port}) is already "
                    "in use; free it or change host_ports in the spec"
                )

"""Host ports on 127.0.0.1: is one free, which ones does a container publish."""

from __future__ import annotations

import contextlib
import fcntl
import random
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from docker.models.containers import Container

from courtyard.artefacts.node_containers import NodeDefinition
from courtyard.core.errors import CourtyardError

# Throw-away clusters (tests, benchmarks, the pytest plugin) take their host ports from here:
# below Linux's ephemeral range (32768 and up), where clients' own source ports would collide
# with a cluster's host ports, and above the well-known defaults.
THROWAWAY_PORTS = range(20000, 32000, 10)
RESERVATION_LOCK = Path(tempfile.gettempdir()) / "courtyard-host-ports.lock"


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


def check_ports(nodes: Iterable[NodeDefinition], held_by_us: set[int]) -> None:
    """Every host port the nodes need is free, or already published by our own containers."""
    for node in nodes:
        for container_port, host_port in node.ports:
            if host_port not in held_by_us and not port_is_free(host_port):
                raise CourtyardError(
                    f"port 127.0.0.1:{host_port} (for {node.name}:{container_port}) is already "
                    "in use; free it or change host_ports in the spec"
                )


def free_port_base(count: int, candidates: range = THROWAWAY_PORTS) -> int:
    """A base port with `count` free ports above it, for a throw-away cluster."""
    rng = random.SystemRandom()
    for _ in range(200):
        base = rng.choice(candidates)
        if all(port_is_free(port) for port in range(base, base + count)):
            return base
    raise CourtyardError(
        f"no {count} free ports in a row on 127.0.0.1 between {candidates.start} and "
        f"{candidates.stop}; stop some clusters (`docker ps`) and try again"
    )


@contextlib.contextmanager
def reservation() -> Iterator[None]:
    """Held from choosing free ports until the containers publish them: two processes that
    make throw-away clusters at once (two pytest sessions) never pick the same ports."""
    with RESERVATION_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

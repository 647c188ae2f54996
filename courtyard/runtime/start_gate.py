"""Start nodes together: their nats-server processes begin within milliseconds of each other.

The Docker engine starts containers one after another (about 0.2 s apart here). Servers
started so staggered bootstrap JetStream before a majority runs, the first meta-leader
campaign fails, and the election waits a whole Raft election timeout (about 5 s) — which is
why 5 and 7 nodes came up slowly.

The gate is the config file itself: nats-server reads `--config` once, with a plain read,
before anything else. For a cold start the node's mounted `nats.conf` is made a FIFO
(`arm`); each server then blocks opening it. Once every container runs, `release` opens all
the FIFOs for writing, writes each config in turn and puts the regular file back, so the
servers read their configs at the same moment. The image, the command line and the config
are exactly those of the chart. A single node (a restart, a roll) is never gated, and a
gate left armed by an interrupted `up` is released by the next one (`release`).

Where the engine runs in a VM (Docker Desktop), a FIFO on the host does not reach the
container, so the gate is not used there (`supported`).
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import docker

from courtyard.artefacts.files import write_file
from courtyard.artefacts.node_containers import NodeDefinition
from courtyard.core.polling import WaitTimeout, poll
from courtyard.project import naming
from courtyard.project.layout import Layout
from courtyard.runtime.docker_objects import get_container

# Switch the gate off (benchmarks compare with and without it).
DISABLE_ENV = "COURTYARD_START_GATE"
ARRIVAL_TIMEOUT = 10.0  # a server reaches its gate within milliseconds of its container start


def supported(client: docker.DockerClient) -> bool:
    """A host FIFO reaches the container only when the engine shares this kernel."""
    if os.environ.get(DISABLE_ENV, "1") == "0" or not sys.platform.startswith("linux"):
        return False
    system = str(client.info().get("OperatingSystem", ""))
    return "Docker Desktop" not in system


def arm(nodes: Sequence[NodeDefinition]) -> None:
    """Make each node's mounted config a FIFO, so its server waits at start."""
    for node in nodes:
        gate = node.mounted_config
        gate.parent.mkdir(parents=True, exist_ok=True)
        if gate.is_fifo():
            continue
        fifo = gate.with_name(f".{gate.name}.gate")
        fifo.unlink(missing_ok=True)
        os.mkfifo(fifo, 0o644)
        os.replace(fifo, gate)  # atomic: the folder always holds a nats.conf


def disarm(layout: Layout, pods: Sequence[str]) -> list[str]:
    """With no container left to read them (after `down`), every gate of `pods` becomes the
    regular config again, so that nothing later (Compose, a manual start) waits at one.
    Returns the pods disarmed."""
    done = []
    for pod in pods:
        gate = layout.node_config_mount(pod) / Path(naming.CONFIG_FILE).name
        if gate.is_fifo():
            write_file(gate, layout.node_config(pod).read_bytes())
            done.append(pod)
    return done


def armed(nodes: Sequence[NodeDefinition]) -> list[NodeDefinition]:
    return [node for node in nodes if node.mounted_config.is_fifo()]


def _open_writer(path: Path) -> int | None:
    """A write end of the FIFO once its reader (the server) is there; None before."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # no reader yet
            return None
        raise
    os.set_blocking(fd, True)
    return fd


def release(
    nodes: Sequence[NodeDefinition],
    running: Callable[[str], bool],
    timeout: float = ARRIVAL_TIMEOUT,
) -> tuple[list[str], list[str]]:
    """Let every armed node's server read its config at once.

    Waits (up to `timeout`) until the server of each node that is `running` blocks at its
    gate, then writes all configs back to back, and every gate becomes the regular file
    again. Returns the nodes released and those still running but never arrived (`late`:
    blocked on the old FIFO, they must be restarted to read the regular file).
    """
    waiting: dict[str, int] = {}
    pending = {node.name: node for node in armed(nodes)}

    def arrive() -> dict[str, NodeDefinition]:
        for name, node in list(pending.items()):
            fd = _open_writer(node.mounted_config)
            if fd is not None:
                waiting[name] = fd
                del pending[name]
            elif not running(name):
                del pending[name]  # never started, or stopped: nobody to release
        return pending

    try:
        poll(
            arrive,
            what="every server to reach its start gate",
            timeout=timeout,
            interval=0.005,
            done=lambda left: not left,
        )
    except WaitTimeout:
        pass  # the late ones are returned
    finally:
        configs = {node.name: node.config_file.read_bytes() for node in armed(nodes)}
        for name, fd in waiting.items():
            with os.fdopen(fd, "wb") as gate:
                gate.write(configs[name])
        for node in armed(nodes):
            write_file(node.mounted_config, configs[node.name])  # atomic replace
    return sorted(waiting), sorted(pending)


def release_containers(
    client: docker.DockerClient, nodes: Sequence[NodeDefinition], timeout: float = ARRIVAL_TIMEOUT
) -> list[str]:
    """`release` for the nodes' containers; a late one is restarted. Returns those released.

    A node whose container is not running is left to the readiness wait that follows.
    """

    def running(name: str) -> bool:
        container = get_container(client, name)
        return container is not None and container.status == "running"

    released, late = release(nodes, running, timeout)
    for name in late:
        get_container(client, name).restart(timeout=1)
    return released

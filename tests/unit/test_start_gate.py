"""The start gate with the real pinned nats-server on loopback: servers started apart, as the
Docker engine starts containers, read their configs together once released."""

from __future__ import annotations

import datetime as dt
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from courtyard.artefacts.node_containers import NodeDefinition
from courtyard.core.polling import poll
from courtyard.project import naming
from courtyard.project.server import server_binary
from courtyard.runtime.start_gate import arm, armed, disarm, release

ENGINE_PACE = 0.2  # seconds between two container starts, as measured with the engine here
STARTED = re.compile(r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) \[INF\] Starting nats-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gated_node(tmp_path: Path, index: int) -> NodeDefinition:
    name = f"n-{index}"
    config = tmp_path / f"{name}.conf"
    config.write_text(f'server_name: "{name}"\nhost: "127.0.0.1"\nport: {free_port()}\n')
    return NodeDefinition(
        index=index, name=name, image="-", network="-", aliases=(), volume="-",
        mounts=((naming.CONFIG_DIR, tmp_path / name / "nats-config"),), ports=(), labels=(),
        config_file=config, fingerprint="-",
    )  # fmt: skip


def start_time(log: Path) -> dt.datetime:
    match = poll(
        lambda: STARTED.search(log.read_text()) if log.exists() else None,
        what=f"{log.name} to say the server started",
        timeout=10,
        interval=0.01,
    )
    return dt.datetime.strptime(match.group(1), "%Y/%m/%d %H:%M:%S.%f")


@pytest.fixture
def servers(tmp_path):
    procs: dict[str, subprocess.Popen] = {}

    def start(node: NodeDefinition) -> None:
        log = tmp_path / f"{node.name}.log"
        procs[node.name] = subprocess.Popen(
            [str(server_binary()), "-c", str(node.mounted_config), "-l", str(log)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    yield start, procs
    for proc in procs.values():
        proc.terminate()
        proc.wait(10)


def test_servers_started_apart_start_together_once_released(tmp_path, servers):
    start, procs = servers
    nodes = [gated_node(tmp_path, i) for i in range(3)]
    arm(nodes)
    assert armed(nodes) == nodes
    for node in nodes:
        start(node)
        time.sleep(ENGINE_PACE)  # the stagger the gate is there to undo
    assert all(proc.poll() is None for proc in procs.values())  # waiting, not failed
    released, late = release(nodes, running=lambda name: procs[name].poll() is None)
    assert (released, late) == (["n-0", "n-1", "n-2"], [])
    starts = [start_time(tmp_path / f"{node.name}.log") for node in nodes]
    spread = (max(starts) - min(starts)).total_seconds()
    # Started 0.2 s apart, they would be 0.4 s apart; released, they read within a moment.
    assert spread < ENGINE_PACE / 2, f"servers started {spread:.3f}s apart"
    for node in nodes:  # the gate is the regular config again, for reloads and restarts
        assert node.mounted_config.is_file()
        assert node.mounted_config.read_bytes() == node.config_file.read_bytes()


def test_a_node_that_never_started_or_never_arrives_is_not_waited_for(tmp_path, servers):
    start, _ = servers
    nodes = [gated_node(tmp_path, i) for i in range(3)]
    arm(nodes)
    start(nodes[0])
    # n-1 never started (not running); n-2 is said to run but its server never comes.
    released, late = release(nodes, running=lambda name: name != "n-1", timeout=0.5)
    assert (released, late) == (["n-0"], ["n-2"])
    assert armed(nodes) == []
    assert start_time(tmp_path / "n-0.log")


def test_arming_twice_keeps_one_gate(tmp_path):
    nodes = [gated_node(tmp_path, 0)]
    arm(nodes)
    arm(nodes)
    assert armed(nodes) == nodes
    assert sorted(p.name for p in nodes[0].config_mount.iterdir()) == ["nats.conf"]
    assert release(nodes, running=lambda name: False) == ([], [])
    assert nodes[0].mounted_config.read_bytes() == nodes[0].config_file.read_bytes()


def test_down_disarms_a_gate_nobody_reads_any_more(project_factory):
    """A gate left armed, then `down`: nothing later (Compose, a manual start) may wait."""
    project = project_factory()
    layout, pod = project.layout, project.names.pod(1)
    layout.node_config(pod).parent.mkdir(parents=True)
    layout.node_config(pod).write_text("server_name: x\n")
    node = NodeDefinition(
        index=1, name=pod, image="-", network="-", aliases=(), volume="-",
        mounts=((naming.CONFIG_DIR, layout.node_config_mount(pod)),), ports=(), labels=(),
        config_file=layout.node_config(pod), fingerprint="-",
    )  # fmt: skip
    arm([node])
    assert disarm(layout, project.names.pods) == [pod]
    assert node.mounted_config.read_text() == "server_name: x\n"
    assert disarm(layout, project.names.pods) == []

"""Larger clusters: five nodes start together, route a full mesh, and pass the smoke."""

from __future__ import annotations

import datetime as dt
import re

from courtyard.artefacts.node_containers import node_definitions
from courtyard.checks import smoke
from courtyard.checks.status import cluster_status
from courtyard.runtime import docker_objects, start_gate
from tests.integration.conftest import quiet_up

STARTED = re.compile(r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) \[INF\] Starting nats-server")


def server_starts(docker_client, project) -> dict[str, dt.datetime]:
    """When each node's nats-server started, from its own log (the first start line)."""
    found = {}
    for container in docker_objects.our_containers(docker_client, project):
        match = STARTED.search(container.logs().decode(errors="replace"))
        found[container.name] = dt.datetime.strptime(match.group(1), "%Y/%m/%d %H:%M:%S.%f")
    return found


def test_five_nodes_start_together_come_up_and_pass_the_smoke(docker_client, make_project):
    project = make_project(replicas=5)
    output = quiet_up(project)
    assert "5 servers released together" in output
    assert "Waiting for health, routes and JetStream meta leader: health 5/5" in output
    starts = server_starts(docker_client, project)
    spread = (max(starts.values()) - min(starts.values())).total_seconds()
    # The engine starts containers about 0.2 s apart (0.8 s for five); released by the gate,
    # the servers start within a moment of each other.
    assert spread < 0.1, f"servers started {spread:.3f}s apart: {starts}"
    nodes = node_definitions(project, "unused")
    assert start_gate.armed(nodes) == []  # every gate is the regular config again
    status = cluster_status(docker_client, project)
    assert status.healthy, status.problems
    assert [row.peers for row in status.nodes] == ["4/4"] * 5
    report = smoke.run(project, messages=200)
    assert report.ok, [(c.name, c.detail) for c in report.checks if not c.ok]
    assert "20 ordered pairs" in next(c.detail for c in report.checks if "pub/sub" in c.name)


def test_servers_left_at_the_gate_by_an_interrupted_up_are_released(docker_client, own_cluster):
    """As if `up` died between starting the containers and releasing their servers."""
    containers = docker_objects.our_containers(docker_client, own_cluster)
    docker_objects.in_parallel([lambda c=c: c.stop(timeout=5) for c in containers])
    image = containers[0].attrs["Config"]["Image"]
    nodes = node_definitions(own_cluster, image)
    start_gate.arm(nodes)
    for container in containers:
        container.start()
    assert start_gate.armed(nodes) == nodes
    output = quiet_up(own_cluster)
    assert "Start gate: released" in output and "left waiting by an interrupted run" in output
    assert start_gate.armed(nodes) == []
    assert cluster_status(docker_client, own_cluster).healthy

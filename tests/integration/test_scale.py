"""Larger clusters: five nodes come up, route a full mesh, and pass the smoke."""

from __future__ import annotations

from courtyard.checks import smoke
from courtyard.checks.status import cluster_status
from tests.integration.conftest import quiet_up


def test_five_nodes_come_up_and_pass_the_smoke(docker_client, make_project):
    project = make_project(replicas=5)
    output = quiet_up(project)
    assert "Waiting for health, routes and JetStream meta leader: health 5/5" in output
    status = cluster_status(docker_client, project)
    assert status.healthy, status.problems
    assert [row.peers for row in status.nodes] == ["4/4"] * 5
    report = smoke.run(project, messages=200)
    assert report.ok, [(c.name, c.detail) for c in report.checks if not c.ok]
    assert "20 ordered pairs" in next(c.detail for c in report.checks if "pub/sub" in c.name)

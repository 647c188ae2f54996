"""The exported Compose file runs the same cluster: ready by the same check, smoke passes."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from courtyard.artefacts.compose import write_compose
from courtyard.artefacts.node_containers import node_definitions
from courtyard.checks import readiness, smoke
from courtyard.core.errors import CourtyardError
from courtyard.lifecycle.prepare import prepare
from courtyard.runtime.image import ensure_image
from tests.integration.conftest import quiet_up


def compose_command() -> list[str]:
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if probe.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail(
        "neither `docker compose` nor `docker-compose` is installed "
        "(apt-get install docker-compose)"
    )


def test_compose_cluster_is_ready_passes_smoke_and_up_refuses_it(docker_client, make_project):
    project = make_project()
    prepare(project)
    image = ensure_image(docker_client, project.spec.image).tag
    nodes = node_definitions(project, image)
    path = write_compose(project, nodes)
    compose = [*compose_command(), "-f", str(path)]
    try:
        subprocess.run(
            [*compose, "up", "-d"], check=True, capture_output=True, timeout=300, cwd="/"
        )
        state = readiness.poll_cluster(project, project.names.monitor_targets, 90)
        assert state.ready, state.problems
        report = smoke.run(project, messages=200)
        assert report.ok, [(c.name, c.detail) for c in report.checks if not c.ok]
        with pytest.raises(CourtyardError, match="created by Docker Compose"):
            quiet_up(project)
    finally:
        subprocess.run(
            [*compose, "down", "-v"], capture_output=True, timeout=300, check=False, cwd="/"
        )

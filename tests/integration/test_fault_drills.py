"""The fault suite: break a running cluster under an acked publisher, heal it with `up`,
and lose nothing. `status` must tell the truth while the fault holds and after."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from courtyard.checks.status import cluster_status
from courtyard.harness.drills import FAULTS, DrillReport, run_drill
from courtyard.project.loaded import Project
from courtyard.runtime import docker_objects
from courtyard.servers.natsclient import run_quietly
from tests.helpers import invoke
from tests.integration.conftest import quiet_up, running_cluster


@pytest.fixture(scope="module")
def drill_cluster(tmp_path_factory, docker_client) -> Iterator[Project]:
    """A cluster for this module's faults; each test leaves it healthy again."""
    with running_cluster(tmp_path_factory, docker_client) as project:
        yield project


def drill(project: Project, client, name: str) -> DrillReport:
    return run_quietly(run_drill(project, client, name, heal=lambda: quiet_up(project, 120)))


@pytest.mark.parametrize("name", list(FAULTS))
def test_no_acknowledged_message_is_lost_and_status_tells_the_truth(
    docker_client, drill_cluster, name
):
    report = drill(drill_cluster, docker_client, name)
    assert report.acked >= 100
    assert (report.lost, report.problems) == (0, []), report.to_dict()
    assert not report.during.healthy, f"status said healthy while: {report.detail}"
    assert report.after.healthy, report.after.problems


def test_two_concurrent_ups_on_a_stopped_cluster_make_one_cluster(docker_client, drill_cluster):
    names = drill_cluster.names
    spec = str(drill_cluster.spec.path)
    docker_objects.in_parallel(
        [lambda p=p: docker_objects.get_container(docker_client, p).stop() for p in names.pods]
    )
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: invoke("up", "--spec", spec), range(2)))
    for run in runs:
        assert "Traceback" not in run.stderr, run.stderr
        assert run.returncode == 0 or "is changing cluster" in run.stderr, run.stderr
    assert any(run.returncode == 0 for run in runs)
    assert len(docker_objects.get_networks(docker_client, names.network)) == 1
    assert cluster_status(docker_client, drill_cluster).healthy


def test_up_while_down_runs_ends_in_one_consistent_state(docker_client, drill_cluster):
    spec = str(drill_cluster.spec.path)
    with ThreadPoolExecutor(2) as pool:
        down = pool.submit(invoke, "down", "--spec", spec)
        up = pool.submit(invoke, "up", "--spec", spec)
        runs = [down.result(), up.result()]
    for run in runs:
        assert "Traceback" not in run.stderr, run.stderr
        assert "did not create it" not in run.stderr + run.stdout
        assert run.returncode == 0 or "is changing cluster" in run.stderr, run.stderr
    final = invoke("up", "--spec", spec)
    assert final.returncode == 0, final.stderr
    assert cluster_status(docker_client, drill_cluster).healthy

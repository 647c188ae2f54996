"""Bad input and faults: a clear sentence, nothing half-done, and a second `up` that works."""

from __future__ import annotations

import socket

import pytest

from courtyard.checks.readiness import NotReadyError
from courtyard.core.errors import CourtyardError
from courtyard.project.loaded import load_project
from courtyard.project.naming import local_image
from courtyard.runtime import docker_objects
from courtyard.runtime.teardown import down
from tests.helpers import write_spec
from tests.integration.conftest import busybox_image, quiet_up

CRASH_IMAGE = "courtyard-test/crash:1"


def labelled(client, project):
    labels = project.names.any_selector
    return (
        client.containers.list(all=True, filters=labels),
        client.networks.list(filters=labels),
        client.volumes.list(filters=labels),
    )


def test_busy_host_port_fails_before_anything_exists(docker_client, make_project):
    project = make_project()
    busy = project.spec.host_ports.client + 1
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", busy))
        holder.listen()
        with pytest.raises(CourtyardError, match=f"port 127.0.0.1:{busy} .* already in use"):
            quiet_up(project)
    assert labelled(docker_client, project) == ([], [], [])


def test_foreign_container_with_clashing_name_is_left_alone(docker_client, make_project):
    project = make_project()
    quiet_up(project)
    pods = project.names.pods
    removed = docker_objects.get_container(docker_client, pods[0])
    docker_objects.remove_container(removed)
    foreign = docker_client.containers.create(local_image(), name=pods[0], command=["--version"])
    try:
        with pytest.raises(CourtyardError, match="not created by Courtyard"):
            quiet_up(project)
        foreign.reload()
        assert foreign.status == "created" and foreign.name == pods[0]
        report = down(docker_client, project)
        assert f"container {pods[0]}" in report.left_alone
        assert docker_objects.get_container(docker_client, pods[0]).id == foreign.id
    finally:
        foreign.remove(force=True)
    quiet_up(project)  # once the cause is gone, up works


def crash_image(client) -> str:
    """An image whose "nats-server" exits at once: busybox without such an applet."""
    return busybox_image(
        client,
        CRASH_IMAGE,
        "FROM scratch\nCOPY busybox /usr/local/bin/nats-server\nENV PATH=/usr/local/bin\n",
    )


def test_node_crashing_at_start_is_diagnosed_and_up_recovers(docker_client, make_project):
    project = make_project({"image": crash_image(docker_client)})
    with pytest.raises(NotReadyError) as err:
        quiet_up(project, timeout=60)
    assert "stopped while starting" in str(err.value)
    assert "applet not found" in err.value.diagnosis
    fixed = load_project(
        write_spec(
            project.spec.root,
            {
                "release": project.spec.release,
                "replicas": 3,
                "host_ports": {
                    "client": project.spec.host_ports.client,
                    "monitor": project.spec.host_ports.monitor,
                    "cluster": project.spec.host_ports.cluster,
                },
            },
        )
    )
    quiet_up(fixed)


def test_forced_image_that_cannot_be_had_is_one_sentence(docker_client, make_project):
    project = make_project({"image": "courtyard-test/none:0"})
    with pytest.raises(CourtyardError, match="not present and cannot be pulled") as err:
        quiet_up(project)
    assert "\n" not in str(err.value)
    containers, networks, volumes = labelled(docker_client, project)
    assert (containers, networks, volumes) == ([], [], [])

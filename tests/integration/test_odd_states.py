"""Nodes in odd states: `status` says what is wrong and `up` repairs it, keeping containers
where it can. One cluster for the module; each test leaves it healthy again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from courtyard.checks.status import cluster_status
from courtyard.core.polling import poll
from courtyard.project.loaded import Project
from courtyard.runtime import docker_objects
from courtyard.servers.natsclient import connect as nats_connect
from courtyard.servers.natsclient import run_quietly
from courtyard.servers.records import running_digest
from tests.integration.conftest import quiet_up, running_cluster, test_project


@pytest.fixture(scope="module")
def odd_cluster(tmp_path_factory, docker_client) -> Iterator[Project]:
    """A cluster for this module's faults; each test leaves it healthy again."""
    with running_cluster(tmp_path_factory, docker_client) as project:
        yield project


def container(client, project: Project, index: int):
    return docker_objects.get_container(client, project.names.pod(index))


def assert_healthy(client, project: Project) -> None:
    report = cluster_status(client, project)
    assert report.healthy, report.problems


def test_a_paused_node_is_reported_and_unpaused_in_place(docker_client, odd_cluster):
    paused = container(docker_client, odd_cluster, 1)
    paused.pause()
    report = cluster_status(docker_client, odd_cluster)
    pod = odd_cluster.names.pod(1)
    assert f"{pod}: container paused; `invoke up` unpauses it" in report.problems
    output = quiet_up(odd_cluster)
    assert f"{pod} unpaused (was paused)" in output
    assert "already in use" not in output
    assert container(docker_client, odd_cluster, 1).id == paused.id
    assert_healthy(docker_client, odd_cluster)


def test_a_node_without_its_aliases_is_reported_and_reconnected(docker_client, odd_cluster):
    names = odd_cluster.names
    node = container(docker_client, odd_cluster, 2)
    network = docker_objects.get_network(docker_client, names.network)
    network.disconnect(node)
    network.connect(node)  # back, but without the headless names peers dial
    report = cluster_status(docker_client, odd_cluster)
    assert not report.healthy
    assert any(
        p.startswith(f"{names.pod(2)}: peers cannot resolve it") and "reconnects" in p
        for p in report.problems
    ), report.problems
    output = quiet_up(odd_cluster)
    assert f"{names.pod(2)} reconnected with its aliases" in output
    assert container(docker_client, odd_cluster, 2).id == node.id
    assert_healthy(docker_client, odd_cluster)


def test_a_node_running_a_hand_edited_config_is_flagged_and_rolled(docker_client, odd_cluster):
    layout, pod = odd_cluster.layout, odd_cluster.names.pod(0)
    mounted = layout.node_config_mount(pod) / "nats.conf"
    mounted.write_text(mounted.read_text() + "max_connections: 1000\n")
    container(docker_client, odd_cluster, 0).restart()
    port = odd_cluster.names.monitor_host_port(0)
    poll(lambda: running_digest(port), what=f"{pod} to report its config digest", timeout=30)
    report = cluster_status(docker_client, odd_cluster)
    drifted = [p for p in report.problems if p.startswith(f"{pod}: ")]
    assert (
        f"{pod}: it runs a config other than the one `up` started it with; `invoke up` rolls it"
        in drifted
    )
    assert any("mounted config nats.conf differs" in p for p in drifted), drifted
    assert "drifted" in report.nodes[0].container
    output = quiet_up(odd_cluster)
    assert f"Rolling {pod} (drifted: " in output
    assert mounted.read_bytes() == layout.node_config(pod).read_bytes()
    assert_healthy(docker_client, odd_cluster)
    assert "nothing to change" in quiet_up(odd_cluster)


def test_a_non_ascii_organization_under_a_non_ascii_path_runs_and_maps_identities(
    tmp_path, docker_client
):
    """The organization is part of every certificate's subject and so of each identity's
    login (verify_and_map): written as UTF-8, not as escapes nats-server cannot read."""
    project = test_project(
        tmp_path / "prøjekt 日本", {"tls": {"subject": {"organization": "Skünkwolf Größe"}}}
    )
    try:
        quiet_up(project)

        async def main():
            refused = []

            async def record(error):
                refused.append(str(error))

            nc = await nats_connect(project, identity="orders", error_cb=record)
            sub = await nc.subscribe("orders.created")
            await nc.publish("orders.created", b"ok")
            await nc.publish("billing.created", b"no")
            msg = await sub.next_msg(timeout=5)
            await nc.flush()
            await nc.close()
            return msg.data, refused

        data, refused = run_quietly(main())
    finally:
        docker_objects.purge(docker_client, project)
    assert data == b"ok"
    assert any('publish to "billing.created"' in r for r in refused), refused

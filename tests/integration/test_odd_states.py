"""Nodes in odd states: `status` says what is wrong and `up` repairs it, keeping containers
where it can. One cluster for the module; each test leaves it healthy again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from courtyard.artefacts.certs import issue_adhoc
from courtyard.artefacts.pki import Usage
from courtyard.checks import readiness, smoke
from courtyard.checks.outcome import CheckFailed
from courtyard.checks.placement import LOGIN_REFUSED, placement_problem
from courtyard.checks.status import cluster_status
from courtyard.core.polling import poll
from courtyard.project.load import SUBJECT_PUNCTUATION
from courtyard.project.loaded import Project
from courtyard.project.naming import RESERVED_IDENTITY
from courtyard.runtime import docker_objects
from courtyard.runtime.extra_node import extra_node
from courtyard.servers import monitor
from courtyard.servers.natsclient import connect as nats_connect
from courtyard.servers.natsclient import run_quietly
from courtyard.servers.records import running_digest
from tests.helpers import invoke
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


# Every character a subject field may hold besides letters and digits (the loader refuses
# the rest): they must round-trip through the certificate and verify_and_map.
ALLOWED_UNIT = "Ops (EU) & a/b: c.d@e_f-g's"


def test_a_non_ascii_organization_under_a_non_ascii_path_runs_and_maps_identities(
    tmp_path, docker_client
):
    """The organization is part of every certificate's subject and so of each identity's
    login (verify_and_map): written as UTF-8, not as escapes nats-server cannot read; the
    unit holds every punctuation mark the spec allows."""
    subject = {"organization": "Skünkwolf Größe", "organizational_unit": ALLOWED_UNIT}
    project = test_project(tmp_path / "prøjekt 日本", {"tls": {"subject": subject}})
    assert set(SUBJECT_PUNCTUATION) <= set(ALLOWED_UNIT)
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


def _probe_server(client, project: Project, name: str, cert: Path, key: Path):
    """A server on the cluster's network dialing every route with `cert`."""
    node = container(client, project, 0)
    return extra_node(
        client,
        project,
        node.image.id,
        project.names.probe_node(name, "t"),
        list(project.names.route_urls),
        cert.read_bytes(),
        key.read_bytes(),
        project.layout.ca_cert.read_bytes(),
    )


def _routes_seen(project: Project, probe) -> set[str]:
    return poll(
        lambda: monitor.peers_of(probe.monitor_port),
        what="the probe's routes",
        timeout=10,
        done=lambda peers: len(peers) == project.spec.replicas,
    )


def test_a_client_identitys_certificate_cannot_join_as_a_route(docker_client, odd_cluster):
    layout = odd_cluster.layout
    identity = odd_cluster.spec.tls.clients[0].name
    cert, key = layout.client_cert(identity), layout.client_key(identity)
    with _probe_server(docker_client, odd_cluster, "ident", cert, key) as probe:
        refused = poll(
            lambda: probe.logs().lower().count("authorization violation"),
            what="the nodes to refuse the probe's routes",
            timeout=10,
            done=lambda count: count >= odd_cluster.spec.replicas,
        )
        # The nodes judge: the probe itself lists each refused route for a moment.
        listed_by = _nodes_listing(odd_cluster, probe.name)
        report = cluster_status(docker_client, odd_cluster)
    assert refused >= 3 and listed_by == []
    assert report.healthy, report.problems


def _nodes_listing(project: Project, server: str) -> list[str]:
    """The nodes that have a route to `server`."""
    return [pod for pod, port in project.names.monitor_targets if server in monitor.peers_of(port)]


def test_the_smokes_route_probe_fails_when_the_nodes_take_it(docker_client, odd_cluster):
    """The smoke's route check is not one that cannot fail: handed the real route key, its
    probe joins, and the check says which nodes routed to it."""
    layout = odd_cluster.layout
    pair = (
        layout.cert("route").read_bytes(),
        layout.key("route").read_bytes(),
        layout.ca_cert.read_bytes(),
    )
    probe = smoke.Smoke(odd_cluster)
    node = container(docker_client, odd_cluster, 0)
    with pytest.raises(CheckFailed, match="routed to the rogue node"):
        run_quietly(
            probe._route_refused(
                docker_client, node, "thief", pair, "authorization violation", "route login"
            )
        )
    assert_healthy(docker_client, odd_cluster)  # gone with the probe


def test_a_server_with_the_route_identity_is_flagged_by_status_and_readiness(
    docker_client, odd_cluster
):
    """The route certificate is the route identity: a server holding it joins, as one with
    a stolen key would, and then neither `status` nor readiness may call the cluster fine."""
    layout = odd_cluster.layout
    cert, key = layout.cert("route"), layout.key("route")
    with _probe_server(docker_client, odd_cluster, "thief", cert, key) as probe:
        _routes_seen(odd_cluster, probe)
        report = cluster_status(docker_client, odd_cluster)
        problem = readiness.foreign_peers_problem(odd_cluster, odd_cluster.names.monitor_targets)
    stranger = odd_cluster.names.probe_node("thief", "t")
    assert not report.healthy
    assert f"{odd_cluster.names.pod(0)}: routes to {stranger}, no node of the spec" in (
        "\n".join(report.problems)
    )
    assert problem and f"has routes to {stranger}" in problem
    assert_healthy(docker_client, odd_cluster)  # gone with the server


def test_junk_in_a_nodes_digest_records_is_no_traceback(docker_client, odd_cluster):
    """`run/<pod>/config-digest` and `secrets-digest` are Courtyard's notes; binary junk in
    them reads as no note (the mounted config is still compared): status and up carry on."""
    layout, pod = odd_cluster.layout, odd_cluster.names.pod(1)
    junk = bytes(range(256)) * 4
    for record in (layout.config_digest(pod), layout.secrets_digest(pod)):
        record.write_bytes(junk)
    spec = str(odd_cluster.spec.path)
    status = invoke("status", "--spec", spec, timeout=60)
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr
    assert "Healthy" in status.stdout, status.stdout
    up = invoke("up", "--spec", spec, timeout=120)
    assert up.returncode == 0 and "Traceback" not in up.stderr, up.stderr
    assert_healthy(docker_client, odd_cluster)


def test_a_login_the_servers_refuse_is_named_as_such_by_readiness(odd_cluster):
    """Courtyard's own certificate swapped for one no user maps to: the servers answer and
    route, so only the login tells; readiness says that, not "no connection yet"."""
    layout = odd_cluster.layout
    own = (layout.client_cert(RESERVED_IDENTITY), layout.client_key(RESERVED_IDENTITY))
    saved = [path.read_bytes() for path in own]
    issue_adhoc(
        odd_cluster.spec, layout, common_name="nobody", base="nobody", organizational_unit=None,
        sans=[], usage=Usage.CLIENT,
    )  # fmt: skip
    try:
        own[0].write_bytes(layout.cert("nobody").read_bytes())
        own[1].write_bytes(layout.key("nobody").read_bytes())
        assert placement_problem(odd_cluster) == LOGIN_REFUSED
    finally:
        for path, content in zip(own, saved, strict=True):
            path.write_bytes(content)
        layout.cert("nobody").unlink()
        layout.key("nobody").unlink()
    assert placement_problem(odd_cluster) is None

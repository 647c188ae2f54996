"""Certificates rotate by reload, under an acked publisher: leaves renewed in place, and a new
CA in three phases, resumed after an interruption, never splitting the cluster."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import nats
import pytest

from courtyard.artefacts import pki, rotation
from courtyard.artefacts.certs import ensure_certs
from courtyard.checks.status import cluster_status
from courtyard.commands import rotate
from courtyard.core.reporter import Recorder
from courtyard.harness.drills import run_under_load
from courtyard.project.loaded import Project
from courtyard.runtime import docker_objects
from courtyard.servers import reload
from courtyard.servers.natsclient import run_quietly, tls_context
from tests.integration.conftest import quiet_up, quietly, running_cluster


@pytest.fixture(scope="module")
def rotating(tmp_path_factory, docker_client) -> Iterator[Project]:
    with running_cluster(tmp_path_factory, docker_client) as project:
        yield project


def container_ids(client, project: Project) -> list[str]:
    return [docker_objects.get_container(client, pod).id for pod in project.names.pods]


def assert_every_node_serves_the_folders(project: Project) -> None:
    expected = reload.expected_fingerprints(project)
    assert set(expected) == {"client", "route"}
    for index in range(project.names.replicas):
        assert reload.served(project, index) == expected, project.names.pod(index)


def test_renewed_leaves_are_reloaded_in_place_and_nothing_is_lost(docker_client, rotating):
    before = container_ids(docker_client, rotating)
    layout = rotating.layout
    old_server = pki.fingerprint(pki.load_cert(layout.cert("server")))

    def renew() -> str:
        ensure_certs(rotating.spec, rotating.names, layout, force=True)
        return quiet_up(rotating)

    report, output = run_quietly(run_under_load(rotating, renew))
    assert output.count("Reloaded ") == rotating.names.replicas, output
    assert "Rolling" not in output
    assert container_ids(docker_client, rotating) == before
    assert (report.lost, report.problems, report.disconnects) == (0, [], 0), report
    assert pki.fingerprint(pki.load_cert(layout.cert("server"))) != old_server
    assert_every_node_serves_the_folders(rotating)
    assert "nothing to change" in quiet_up(rotating)


def test_a_new_ca_in_three_phases_never_splits_and_resumes(docker_client, rotating, tmp_path):
    layout, names = rotating.layout, rotating.names
    old_ca = tmp_path / "old-ca.crt"
    old_ca.write_bytes(layout.ca_cert.read_bytes())
    before = container_ids(docker_client, rotating)

    def interrupted_then_resumed() -> str:
        # Phase 1 as a run that stopped right after it (its state recorded), then a new run.
        state = rotation.begin(layout)
        rotation.trust_both(rotating.spec, layout, state)
        for index in range(names.replicas):
            reload.reload_node(docker_client, rotating, index)
        state.done = 1
        rotation.save_state(layout, state)
        shown = quietly(lambda: rotate.show_status(rotating, as_json=False))
        assert "done" in shown and "to do" in shown
        recorder = Recorder()
        rotate.run(rotating, reporter=recorder)
        return recorder.text

    report, output = run_quietly(run_under_load(rotating, interrupted_then_resumed))
    assert "Phase 1: trust the old and the new CA: done by an earlier run" in output
    assert "Phase 3: trust only the new CA" in output and "CA rotated (resumed)" in output
    assert report.samples >= 5 and report.broken == [], report.broken[:5]
    assert (report.lost, report.problems, report.disconnects) == (0, [], 0), report
    assert container_ids(docker_client, rotating) == before
    assert not layout.rotation.exists()

    new_ca = pki.load_cert(layout.ca_cert)
    assert pki.load_cert(old_ca).fingerprint(pki.hashes.SHA256()) != new_ca.fingerprint(
        pki.hashes.SHA256()
    )
    assert_every_node_serves_the_folders(rotating)
    for folder in ("cluster", "nats"):
        served = pki.load_cert(layout.secrets / folder / "tls.crt")
        assert pki.issued_by(served, new_ca)
    assert layout.ca_bundle.read_bytes() == layout.ca_cert.read_bytes()

    # A client that holds only the old CA cannot verify any node any more.
    own = "courtyard"
    stale = tls_context(old_ca, layout.client_cert(own), layout.client_key(own))
    with pytest.raises(ssl.SSLCertVerificationError, match="CERTIFICATE_VERIFY_FAILED"):
        run_quietly(_connect_once(rotating, stale))
    # Routes made afresh after the rotation trust the new CA only, and work.
    docker_objects.get_container(docker_client, names.pod(0)).restart()
    quiet_up(rotating)
    assert cluster_status(docker_client, rotating).healthy


async def _connect_once(project: Project, context: ssl.SSLContext) -> None:
    nc = await nats.connect(
        project.names.client_url(0),
        tls=context,
        connect_timeout=3,
        allow_reconnect=False,
        max_reconnect_attempts=0,
    )
    await nc.close()

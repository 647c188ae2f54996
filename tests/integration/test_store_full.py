"""A full JetStream file store: named by status, up and smoke, and the smoke cleans up."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from nats.errors import NoRespondersError
from nats.js.errors import NoStreamResponseError, ServiceUnavailableError

from courtyard.checks import smoke
from courtyard.checks.readiness import NotReadyError
from courtyard.checks.status import cluster_status
from courtyard.checks.workload import until_reachable
from courtyard.project.loaded import Project
from courtyard.servers.natsclient import connect, run_quietly
from tests.integration.conftest import quiet_up, running_cluster, stream_names

STORE = "8Mi"


@pytest.fixture(scope="module")
def full_cluster(tmp_path_factory, docker_client) -> Iterator[Project]:
    """A cluster whose file store a stream has filled. Without teams: with them, every
    account's limit is a share of the store, and no account can fill a node's (the test of
    that is test_team_limits.py)."""
    changes = {
        "jetstream": {"file_store": STORE},
        "tls": {"clients": ["dev", {"name": "ops", "system": True}]},
    }
    with running_cluster(tmp_path_factory, docker_client, changes) as project:
        run_quietly(fill(project))
        yield project


async def fill(project: Project) -> None:
    nc = await connect(project)
    try:
        js = nc.jetstream()
        await js.add_stream(name="FILLER", subjects=["filler.>"], num_replicas=3)
        payload = b"x" * 65536
        # A new stream's interest takes a moment to cross the routes (no responders).
        await until_reachable(lambda: js.publish("filler.x", payload, timeout=5))
        for _ in range(1000):
            try:
                await js.publish("filler.x", payload, timeout=5)
            except ServiceUnavailableError as exc:
                assert "insufficient resources" in str(exc)
                return
            except (NoRespondersError, NoStreamResponseError):
                await asyncio.sleep(0.05)  # the stream's leader moved; ask again
        pytest.fail(f"a {STORE} store took 1000 messages of 64 KiB")
    finally:
        await nc.close()


def test_status_names_the_node_the_limit_and_the_stream(docker_client, full_cluster):
    report = cluster_status(docker_client, full_cluster)
    full = [p for p in report.problems if "JetStream file store full" in p]
    assert full, report.problems
    assert any("of 8.0 MiB" in p and "FILLER" in p and "jetstream.file_store" in p for p in full)
    assert not report.healthy


def test_up_blames_the_full_store_not_a_slow_machine(full_cluster):
    with pytest.raises(NotReadyError) as err:
        quiet_up(full_cluster, timeout=5)
    assert "is full (not a slow machine)" in str(err.value)
    assert "JetStream file store full" in err.value.diagnosis


def test_smoke_says_why_and_leaves_no_stream_behind(full_cluster):
    report = smoke.run(full_cluster, messages=50)
    jetstream = next(c for c in report.checks if c.name.startswith("JetStream"))
    assert not jetstream.ok and "JetStream file store full" in jetstream.detail
    cleanup = report.checks[-1]
    assert cleanup.ok, cleanup.detail
    assert [name for name in stream_names(full_cluster) if "SMOKE" in name] == []

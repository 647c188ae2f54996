"""`invoke smoke` against a real cluster: passes, refuses strangers, loses nothing on failover."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from courtyard.artefacts.files import write_file
from courtyard.artefacts.nodeconf import render
from courtyard.checks import security, smoke
from courtyard.core.errors import CourtyardError
from courtyard.harness.failover import ACKS_UNDER_NEW_LEADER, SMOKE_CHECK, WARM_UP_ACKS
from courtyard.project.server import server_binary
from courtyard.runtime import docker_objects
from courtyard.runtime.ports import free_port_base
from tests.helpers import invoke
from tests.integration.conftest import stream_names


def test_smoke_passes_on_a_fresh_cluster_and_leaves_nothing(cluster):
    before = stream_names(cluster)
    report = smoke.run(cluster, messages=300)
    assert report.ok, [(c.name, c.detail) for c in report.checks if not c.ok]
    names = [c.name for c in report.checks]
    assert any("pub/sub" in n for n in names) and any("KV" in n for n in names)
    system = next(c for c in report.checks if c.name.startswith("system account"))
    assert "ops: all 3 servers answered $SYS.REQ.SERVER.PING and .JSZ" in system.detail
    assert "dev: no responders" in system.detail
    assert "orders: permission error" in system.detail
    assert "a stranger: refused at login" in system.detail
    # The identities' traffic, each pair on different nodes: dev to each team and back,
    # each team to itself, orders' charge request and its orders.created to payments,
    # payments' settlement to orders; each team's stream counted, then removed again.
    traffic = next(c for c in report.checks if c.name.startswith("traffic"))
    assert traffic.detail == (
        "12 routes between identities on different nodes: 36 events each arrived once, 12 "
        "requests answered; ORDERS of orders stored 48 of 48 acked (from dev, orders, "
        "payments); PAYMENTS of payments stored 48 of 48 acked (from dev, orders, payments)"
    ), traffic.detail
    assert stream_names(cluster) == before


def test_security_probes_are_all_refused(cluster):
    layout = cluster.layout
    results = asyncio.run(
        security.run_client_probes(layout.ca_cert, layout.ca_key, cluster.spec.host_ports.client)
    )
    assert [name for name, refused, _ in results if not refused] == []
    assert len(results) == 4


def test_a_probe_the_server_wrongly_accepts_fails_the_smoke(cluster):
    """A real nats-server on 127.0.0.1 with client TLS but without `verify`."""
    layout = cluster.layout
    port = free_port_base(1)
    config = {
        "port": port,
        "host": "127.0.0.1",
        "tls": {
            "cert_file": str(layout.cert("server")),
            "key_file": str(layout.key("server")),
            "ca_file": str(layout.ca_cert),
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "lax.conf"
        write_file(conf, render(config, "a node configured without verify"))
        server = subprocess.Popen(
            [str(server_binary()), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_port(port)
            results = asyncio.run(security.run_client_probes(layout.ca_cert, layout.ca_key, port))
            accepted = {name for name, refused, _ in results if not refused}
            assert accepted == {
                "TLS without a client certificate",
                "client certificate from another CA",
                "expired client certificate",
            }
            probe = smoke.Smoke(cluster)
            ok = asyncio.run(probe.check("security", lambda: probe.client_security(port)))
            assert not ok and "ACCEPTED" in probe.report.checks[0].detail
        finally:
            server.terminate()
            server.wait(10)


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nats-server did not listen on {port}")


def test_failover_keeps_every_acknowledged_message(docker_client, own_cluster):
    report = smoke.run(own_cluster, messages=100, extra=[SMOKE_CHECK])
    assert report.ok, [(c.name, c.detail) for c in report.checks if not c.ok]
    failover = report.failover
    # Every acked message is in the stream once: as many acks as stream sequences, and at
    # least the publishes the failover waits for before and after the leader change.
    assert failover["acked"] == failover["last_seq"] >= WARM_UP_ACKS + ACKS_UNDER_NEW_LEADER
    assert failover["leaderless_seconds"] > 0 and failover["catch_up_seconds"] > 0
    stopped = docker_objects.get_container(docker_client, failover["stopped_node"])
    assert stopped is not None and stopped.status == "running"  # started again


def test_smoke_json_report_for_machines(cluster):
    proc = invoke(
        "smoke",
        "--json",
        "--messages",
        "50",
        "--spec",
        str(cluster.spec.path),
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] and report["cluster"] == cluster.names.fullname
    assert all(check["ok"] for check in report["checks"])


def test_node_down_before_the_smoke_is_named(docker_client, own_cluster):
    pod = own_cluster.names.pod(1)
    docker_objects.get_container(docker_client, pod).stop(timeout=5)
    with pytest.raises(CourtyardError, match=f"node {pod} \\(exited\\) is not running"):
        smoke.run(own_cluster)


def test_smoke_without_a_cluster_is_one_sentence(make_project):
    project = make_project()
    proc = invoke("smoke", "--spec", str(project.spec.path), timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert (
        f"no running Courtyard cluster for spec {project.spec.path}; run `invoke up`" in proc.stderr
    )

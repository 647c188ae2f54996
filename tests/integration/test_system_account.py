"""The system identity on the real engine: what the nats CLI sends gets every server's answer
through `invoke env --identity ops`; `invoke report` reads the servers; nobody else gets
anything from the system account; the chart's rendered pods do the same."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import nats
import pytest

from courtyard.checks import permissions
from courtyard.checks.workload import create_stream, publish_once_reachable
from courtyard.core.polling import poll
from courtyard.servers import system
from courtyard.servers.natsclient import connect, run_quietly, tls_context
from tests.helpers import CURRENT_CHART, LEGACY_CHART, REPO, invoke, real_chart

CLI_SUBJECTS = [system.SERVER_PING, system.STATSZ_PING, system.JSZ_PING, system.IDZ_PING]


def env_for(project, tmp_path) -> dict[str, str]:
    return {
        **os.environ,
        "COURTYARD_SPEC": str(project.spec.path),
        "XDG_CONFIG_HOME": str(tmp_path),
    }


def test_the_nats_cli_context_of_the_system_identity_gets_every_servers_answer(cluster, tmp_path):
    proc = invoke("env", "--identity", "ops", env=env_for(cluster, tmp_path))
    assert proc.returncode == 0, proc.stderr
    (path,) = (tmp_path / "nats" / "context").glob("*-ops.json")
    context = json.loads(path.read_text())
    assert "inbox_prefix" not in context  # a system identity's replies are its own anyway

    async def ask() -> dict[str, set[str]]:
        nc = await nats.connect(
            servers=context["url"].split(","),
            tls=tls_context(context["ca"], context["cert"], context["key"]),
        )
        try:
            found = {}
            for subject in CLI_SUBJECTS:
                answers = await system.ping(nc, subject, expected=3)
                found[subject] = {answer.server for answer in answers}
            ids = {
                a.body["server"]["id"]: a.server
                for a in await system.ping(nc, system.SERVER_PING, expected=3)
            }
            for server_id, name in ids.items():  # `nats server info` asks one server
                reply = await nc.request(system.server_varz(server_id), b"", timeout=2)
                found[f"VARZ of {name}"] = {json.loads(reply.data)["data"]["server_name"]}
            return found
        finally:
            await nc.close()

    found = run_quietly(ask())
    pods = set(cluster.names.pods)
    for subject in CLI_SUBJECTS:
        assert found[subject] == pods, subject
    for pod in pods:
        assert found[f"VARZ of {pod}"] == {pod}


@pytest.mark.parametrize(
    ("identity", "expected"), [("dev", "no responders"), ("orders", "permission error")]
)
def test_nobody_else_gets_an_answer_from_the_system_account(cluster, identity, expected):
    who = next(c for c in cluster.spec.tls.clients if c.name == identity)

    async def ask() -> list[str | None]:
        refusals = permissions.Refusals()
        nc = await permissions.connect_as(cluster, who, refusals)
        try:
            return [
                await system.what_others_get(nc, subject, refusals.violated)
                for subject in CLI_SUBJECTS
            ]
        finally:
            await nc.close()

    assert run_quietly(ask()) == [expected] * len(CLI_SUBJECTS)


def test_courtyards_own_identity_stays_out_of_the_system_account(cluster):
    async def ask():
        nc = await connect(cluster)
        try:
            return await system.what_others_get(nc, system.SERVER_PING)
        finally:
            await nc.close()

    assert run_quietly(ask()) == "no responders"


def test_report_shows_every_server_and_a_stream_with_its_consumer(cluster, tmp_path):
    async def make() -> None:
        nc = await connect(cluster)
        try:
            js = nc.jetstream()
            await create_stream(js, name="REPORTED", subjects=["reported.>"], num_replicas=3)
            for _ in range(4):
                await publish_once_reachable(js, "reported.x", b"x")
            await js.add_consumer("REPORTED", durable_name="audit", ack_policy="explicit")
        finally:
            await nc.close()

    async def drop() -> None:
        nc = await connect(cluster)
        try:
            await nc.jetstream().delete_stream("REPORTED")
        finally:
            await nc.close()

    def reported() -> dict:
        proc = invoke("report", "--json", env=env_for(cluster, tmp_path))
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def counted(found: dict) -> bool:
        stream = next((s for s in found["streams"] if s["name"] == "REPORTED"), None)
        return bool(stream and stream["consumers"] and stream["consumers"][0]["pending"] == 4)

    run_quietly(make())
    try:
        # A consumer made a moment ago may not have counted its pending messages yet.
        found = poll(
            reported,
            what="the report to count the consumer's pending",
            timeout=15,
            interval=0.5,
            done=counted,
        )
    finally:
        run_quietly(drop())
    pods = cluster.names.pods
    assert found["identity"] == "ops" and found["missing"] == []
    assert [s["server"] for s in found["servers"]] == pods
    assert all(s["version"] == "2.14.2" and s["routes"] == 2 for s in found["servers"])
    assert found["meta_leader"] in pods and len(found["followers"]) == 2
    stream = next(s for s in found["streams"] if s["name"] == "REPORTED")
    assert stream["messages"] == 4 and stream["leader"] in pods
    assert stream["consumers"] == [{"name": "audit", "pending": 4, "ack_pending": 0}]
    people = invoke("report", env=env_for(cluster, tmp_path))
    assert people.returncode == 0 and "meta leader" in people.stdout


def test_report_names_a_node_that_is_down_and_reports_the_others(
    docker_client, own_cluster, tmp_path
):
    down = own_cluster.names.pod(2)
    docker_client.containers.get(down).stop(timeout=5)
    proc = invoke("report", env=env_for(own_cluster, tmp_path))
    assert proc.returncode == 1
    assert f"{down} did not answer" in proc.stdout
    for pod in own_cluster.names.pods[:2]:
        assert pod in proc.stdout
    assert proc.stderr.strip().splitlines()[-1] == (
        f"courtyard: {down} did not answer; the others are reported above"
    )


def test_a_spec_without_a_system_identity_says_so_in_one_sentence(make_project, tmp_path):
    project = make_project({"tls": {"clients": ["dev"]}})
    proc = invoke("report", env=env_for(project, tmp_path))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "has no system identity" in proc.stderr and "system: true" in proc.stderr


@pytest.mark.parametrize("layout", ["current", "legacy"])
def test_the_charts_rendered_pods_serve_the_system_identity(make_project, tmp_path, layout):
    chart = real_chart(CURRENT_CHART if layout == "current" else LEGACY_CHART)
    project = make_project({"helm": {"layout": layout}})
    proc = invoke("export-helm", "--verify", "--chart", str(chart), env=env_for(project, tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for subject in (system.SERVER_PING, system.JSZ_PING):
        assert f"3/3 rendered pods answered {subject}" in proc.stdout
    assert "dev (not a system identity): no responders" in proc.stdout
    # The chart's accounts carry the identities' traffic as the local cluster's do.
    assert (
        " ✓ traffic between identities: 12 routes between identities on different nodes: 36 "
        "events each arrived once, 12 requests answered; ORDERS of orders stored 48 of 48 acked"
    ) in proc.stdout, proc.stdout
    # The team's account holds on the chart's config too: its streams copy, capture and
    # forward nothing from or to the shared account.
    escaped = next(line for line in proc.stdout.splitlines() if "orders's streams" in line)
    assert escaped.startswith(" ✓"), escaped
    for went_nowhere in (
        "sources VERIFY_FOREIGN: nothing copied",
        "mirror VERIFY_FOREIGN: nothing copied",
        "_INBOX.>: nothing captured (the marker",
        "forged: nothing arrived",
        "forged2: no interest seen, nothing delivered",
    ):
        assert went_nowhere in escaped, escaped


def test_report_watch_refreshes_until_interrupted(cluster, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "-r", str(REPO), "report", "--watch", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(cluster, tmp_path),
    )
    try:
        seen = []
        while len(seen) < 2:  # two whole reports: it refreshed
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            if line.startswith("Cluster "):
                seen.append(line)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "courtyard: interrupted" in err
    assert "Traceback" not in err

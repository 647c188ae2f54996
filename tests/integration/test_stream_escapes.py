"""A team's streams stay in its account, on the real engine: the five escapes a restricted
identity could configure on its own stream (sources, mirror, captured subjects, republish,
push delivery) go nowhere on a cluster from `invoke up`; the same probe catches every one
of them when the team shares the admins' account, as it did before teams had accounts; and
`up` refuses to strand streams of the global account. The chart's rendered config is tried
in test_system_account.py (`export-helm --verify` runs its pods and the same probe)."""

from __future__ import annotations

import pytest
import yaml
from nats.js.api import StorageType

from courtyard.artefacts import authorization
from courtyard.checks import escapes
from courtyard.checks.outcome import CheckFailed
from courtyard.checks.workload import create_stream
from courtyard.core.errors import CourtyardError
from courtyard.project import naming
from courtyard.project.loaded import load_project
from courtyard.servers.natsclient import connect, run_quietly
from tests.integration.conftest import quiet_up

TARGET = escapes.Target("PAYMENTS", "payments")


def orders_of(project):
    return next(c for c in project.spec.tls.clients if c.name == "orders")


async def with_payments(project, body):
    """Run `body(admin)` with the shared account's PAYMENTS stream holding one message."""
    admin = await connect(project)
    try:
        js = admin.jetstream()
        await create_stream(js, name="PAYMENTS", subjects=["ledger.>"], storage=StorageType.MEMORY)
        await js.publish("ledger.1", b"another team's data")
        return await body(admin)
    finally:
        await admin.jetstream().delete_stream("PAYMENTS")
        await admin.close()


def test_a_teams_streams_reach_nothing_outside_its_account(cluster):
    async def probe(admin):
        return await escapes.probe_escapes(cluster, orders_of(cluster), admin, TARGET, "t1")

    detail = run_quietly(with_payments(cluster, probe))
    for went_nowhere in (
        "control: an admin's source copies PAYMENTS in",
        "sources PAYMENTS: nothing copied",
        "mirror PAYMENTS: nothing copied",
        "subjects payments.captured.>, _INBOX.>: nothing captured (the marker on orders.",
        "republish -> payments.forged: nothing arrived in 1s (its own orders.escapes-t1 did)",
        "push consumer -> payments.forged2: no interest seen, nothing delivered",
    ):
        assert went_nowhere in detail, detail


def test_the_probe_catches_every_escape_when_the_team_shares_the_admins_account(
    make_project, monkeypatch
):
    """The layout before teams had accounts: everyone in the global account, the team held
    by its subject permissions alone. Each of the five escapes gets through, and the probe
    says so: it is not a check that cannot fail."""
    monkeypatch.setattr(authorization, "teams", lambda spec: [])
    bridged = authorization.permissions
    out = naming.bridge_out("")

    def unbridged(identity):  # no account to map a publish onto a bridge: plain subjects
        rights = bridged(identity)
        if rights and "allow" in rights["publish"]:
            allow = rights["publish"]["allow"]
            rights["publish"]["allow"] = [s.removeprefix(out) for s in allow]
        return rights

    monkeypatch.setattr(authorization, "permissions", unbridged)
    project = make_project()
    quiet_up(project)

    async def each(admin):
        probe = escapes.EscapeProbe(project, orders_of(project), admin, TARGET, "t2")
        probe.nc = await connect(project, identity="orders", inbox_prefix="_INBOX_orders")
        probe.js, caught = probe.nc.jetstream(), []
        inbox = escapes._Inbox()
        for subject in ("orders.escapes-t2", "payments.forged", "payments.forged2"):
            await admin.subscribe(subject, cb=inbox.record)
        await admin.flush()
        for attempt in (
            lambda: probe._copy("sources", 5.0, "ORDERS"),
            lambda: probe._copy("mirror", 5.0, "ORDERS"),
            lambda: probe._capture("ORDERS"),
            lambda: probe._republish("orders.escapes-t2", "payments.forged", inbox, "ORDERS"),
            lambda: probe._push("payments.forged2", inbox, "ORDERS"),
        ):
            try:
                await attempt()
            except CheckFailed as exc:
                caught.append(str(exc))
        await probe._drop("ORDERS")
        await probe.nc.close()
        return caught

    caught = run_quietly(with_payments(project, each))
    assert [line.split(":")[0] for line in caught] == [
        "sources PAYMENTS",
        "mirror PAYMENTS",
        "subjects payments.captured.>, _INBOX.>",
        "republish orders.escapes-t2 -> payments.forged",
        "push consumer -> payments.forged2",
    ], caught
    assert "CAPTURED" in caught[2]  # another team's message, an admin's reply (and more)


def test_up_refuses_to_strand_the_global_accounts_streams_and_changes_nothing(make_project):
    project = make_project({"tls": {"clients": ["dev"]}})
    quiet_up(project)

    async def make_stream():
        nc = await connect(project)
        try:
            js = nc.jetstream()
            await create_stream(js, name="KEEPME", subjects=["keep.>"], num_replicas=3)
            await js.publish("keep.1", b"precious")
        finally:
            await nc.close()

    run_quietly(make_stream())
    config = project.layout.node_config(project.names.pod(0))
    before = config.read_text()
    spec = yaml.safe_load(project.spec.path.read_text())
    spec["tls"]["clients"] = ["dev", {"name": "orders", "publish": ["orders.>"]}]
    project.spec.path.write_text(yaml.safe_dump(spec))
    changed = load_project(project.spec.path)
    with pytest.raises(CourtyardError) as refused:
        quiet_up(changed)
    assert "keeps stream(s) KEEPME in the global account" in str(refused.value)
    assert "invoke down --volumes" in str(refused.value)
    assert config.read_text() == before  # nothing written, nothing rolled

    async def still_there():
        nc = await connect(project)
        try:
            return (await nc.jetstream().stream_info("KEEPME")).state.messages
        finally:
            await nc.close()

    assert run_quietly(still_there()) == 1

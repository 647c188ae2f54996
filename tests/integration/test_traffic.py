"""The hub carries its services' traffic between identities, on the real engine: with two
teams that talk to each other and an admin, every event crosses once whichever nodes the
two sides are on, every request is answered across identities in every direction the lists
allow, and a team's stream stores exactly what was acknowledged, whoever published it. The
check that proves it catches a doubled and a missing bridge, and every bridge subject is
closed to the teams themselves."""

from __future__ import annotations

import pytest
from nats.js.api import StorageType, StreamConfig

from courtyard.artefacts import authorization
from courtyard.checks import permissions
from courtyard.checks.outcome import CheckFailed
from courtyard.checks.traffic import check_traffic, routes, talking_identities
from courtyard.checks.workload import create_stream, until_reachable
from courtyard.core.polling import poll_async
from courtyard.project import naming
from courtyard.servers.natsclient import connect, run_quietly
from tests.integration.conftest import quiet_up, running_cluster

TEAMS = {
    "tls": {
        "clients": [
            "dev",
            {
                "name": "orders",
                "publish": ["orders.>", "payments.charge"],
                "subscribe": ["orders.>", "payments.settled"],
                "streams": ["ORDERS"],
                "buckets": ["orders-config"],
            },
            {
                "name": "payments",
                "publish": ["payments.>", "orders.get", "orders.*.query"],
                "subscribe": ["payments.>", "orders.created", "orders.*.done"],
                "streams": ["PAYMENTS"],
            },
            {"name": "ops", "system": True},
        ]
    }
}


@pytest.fixture(scope="module")
def teams(tmp_path_factory, docker_client):
    with running_cluster(tmp_path_factory, docker_client, TEAMS) as project:
        yield project


def identity(project, name):
    return next(c for c in project.spec.tls.clients if c.name == name)


def test_every_route_between_identities_carries_its_traffic_once(teams):
    expected = routes(talking_identities(teams), "cy-t1")
    # admin <-> each team, each team to itself, and both ways between the two teams.
    pairs = {(r.sender.name, r.receiver.name) for r in expected}
    assert pairs == {
        ("dev", "orders"),
        ("dev", "payments"),
        ("orders", "dev"),
        ("payments", "dev"),
        ("orders", "orders"),
        ("payments", "payments"),
        ("orders", "payments"),
        ("payments", "orders"),
    }
    detail = run_quietly(check_traffic(teams, "t1"))
    n = len(expected)
    assert (
        f"{n} routes between identities on different nodes: {3 * n} events each arrived once, "
        f"{n} requests answered" in detail
    ), detail
    # Both teams' streams hold exactly what was acknowledged: the team's own publishes, an
    # admin's, and (PAYMENTS) the other team's events it keeps a copy of.
    # ORDERS: 2 subjects (orders.cy-t1, payments.settled) x 3 nodes x 4 from dev, 1 from
    # orders and 1 from payments; PAYMENTS: 3 subjects from dev, 2 (orders.created,
    # orders.cy-t1.done) from orders, 1 from payments.
    assert "ORDERS of orders stored 48 of 48 acked (from dev, orders, payments)" in detail
    assert "PAYMENTS of payments stored 72 of 72 acked (from dev, orders, payments)" in detail


def test_a_teams_own_stream_stores_each_acked_publish_once_through_every_node(teams):
    """The measurement that showed 150 stored for 90 acked: 30 publishes through each node,
    with and without a message id, into the team's own R3 file stream."""

    async def main():
        ncs = [
            await connect(teams, [i], identity="orders", inbox_prefix="_INBOX_orders")
            for i in range(3)
        ]
        js = ncs[0].jetstream()
        await create_stream(js, name="ORDERS", subjects=["orders.js.>"], num_replicas=3)
        try:
            acked = 0
            for n, nc in enumerate(ncs):
                for i in range(30):
                    headers = {"Nats-Msg-Id": f"{n}-{i}"} if i % 2 else None
                    await until_reachable(
                        lambda nc=nc, i=i, headers=headers: nc.jetstream().publish(
                            f"orders.js.{i}", b"x", timeout=2, headers=headers
                        )
                    )
                    acked += 1
            return acked, (await js.stream_info("ORDERS")).state.messages
        finally:
            await js.delete_stream("ORDERS")
            for nc in ncs:
                await nc.close()

    assert run_quietly(main()) == (90, 90)


def test_the_traffic_check_catches_a_bridge_that_delivers_twice(make_project, monkeypatch):
    """A team's publish that reaches its own subscribers directly and again through APP (its
    import listening on the plain subject, as the bridges did before): the check says so."""
    original = authorization.team_bridges
    out = f"{naming.BRIDGE_PREFIX}.out."

    def doubled(team):
        bridges = original(team)
        bridges["mappings"] = {
            k: v for k, v in bridges["mappings"].items() if not v.startswith(out)
        }
        for entry in bridges.get("imports", []):
            entry["to"] = entry["to"].removeprefix(out)
        return bridges

    monkeypatch.setattr(authorization, "team_bridges", doubled)
    monkeypatch.setattr(authorization, "permissions", lambda identity: None)
    project = make_project(TEAMS)
    quiet_up(project)
    with pytest.raises(CheckFailed) as failed:
        run_quietly(check_traffic(project, "t2"))
    assert "orders -> orders on orders.cy-t2: events arrived [2, 2, 2] times" in str(
        failed.value
    ), failed.value


def test_the_traffic_check_catches_a_team_cut_off_from_the_hub(make_project, monkeypatch):
    """Without its mappings nothing APP passes down reaches the team's subscribers."""
    original = authorization.team_bridges

    def cut_off(team):
        bridges = original(team)
        if team.name == "payments":
            bridges.pop("mappings")
        return bridges

    monkeypatch.setattr(authorization, "team_bridges", cut_off)
    project = make_project(TEAMS)
    quiet_up(project)
    with pytest.raises(CheckFailed) as failed:
        run_quietly(check_traffic(project, "t3"))
    assert "dev -> payments on payments.cy-t3: no event arrived" in str(failed.value), failed.value


BRIDGE_SUBJECTS = [
    naming.bridge_in("orders", "orders.x"),  # APP's arrival subject of another team
    naming.bridge_out("orders.x"),  # another team's outgoing bridge
    naming.bridge_down("payments.x"),  # a downward bridge
    naming.bridge_out("secret.x"),  # a bridge nobody has
]


def test_no_team_may_publish_or_subscribe_to_a_bridge_subject_it_was_not_given(teams):
    """Each publish is refused by the server (after the account's mappings: a downward
    bridge subject is refused under the plain subject it maps to), and nothing of them
    reaches an admin listening on everything or the team's own subscriber."""

    async def main():
        refusals = permissions.Refusals()
        nc = await permissions.connect_as(teams, identity(teams, "payments"), refusals, [0])
        listener = await connect(teams, [1])
        heard = []

        async def on_message(msg):
            if msg.subject.startswith(("_CY", "orders.x", "payments.x", "secret.x")):
                heard.append(msg.subject)

        await listener.subscribe(">", cb=on_message)
        await nc.subscribe("payments.>", cb=on_message)
        await listener.flush()
        try:
            results = {}
            for subject in BRIDGE_SUBJECTS:
                before = len(refusals.seen)
                await nc.publish(subject, b"forged")
                await nc.flush()
                await poll_async(
                    lambda before=before: _refused_since(refusals, before),
                    what=f"a refusal of {subject}",
                    timeout=3,
                    interval=0.02,
                    done=bool,
                )
                results[f"publish {subject}"] = "refused"
            await nc.subscribe(f"{naming.BRIDGE_PREFIX}.>")
            await nc.flush()
            results["subscribe _CY.>"] = await refusals.wait_for(
                "subscription", f"{naming.BRIDGE_PREFIX}.>"
            )
            await listener.flush()
            return results, heard
        finally:
            await nc.close()
            await listener.close()

    results, heard = run_quietly(main())
    assert results == {
        **{f"publish {s}": "refused" for s in BRIDGE_SUBJECTS},
        "subscribe _CY.>": True,
    }
    assert heard == []


async def _refused_since(refusals, before: int) -> bool:
    return any("permissions violation for publish" in seen for seen in refusals.seen[before:])


def test_a_stream_on_the_bridge_subjects_captures_only_the_teams_own_publishes(teams):
    """A team's stream that captures `_CY.>` sees its own outgoing publishes (it may read
    what it sent) and nothing another identity sent down to it or anyone else."""

    async def main():
        payments = await connect(teams, [1], identity="payments", inbox_prefix="_INBOX_payments")
        orders = await connect(teams, [2], identity="orders", inbox_prefix="_INBOX_orders")
        admin = await connect(teams, [0])
        js = payments.jetstream()
        await create_stream(
            js,
            config=StreamConfig(
                name="PAYMENTS", subjects=[f"{naming.BRIDGE_PREFIX}.>"], storage=StorageType.MEMORY
            ),
        )
        try:
            await payments.publish("payments.own", b"mine")
            await orders.publish("orders.created", b"orders'")  # payments may subscribe it
            await admin.publish("payments.from-admin", b"admin's")
            await admin.publish("secret.x", b"nobody's")
            for nc in (payments, orders, admin):
                await nc.flush()
            info = await until_reachable(
                lambda: js.stream_info("PAYMENTS", subjects_filter=">"), what="the stream"
            )
            return sorted((info.state.subjects or {}).keys())
        finally:
            await js.delete_stream("PAYMENTS")
            for nc in (payments, orders, admin):
                await nc.close()

    assert run_quietly(main()) == [naming.bridge_out("payments.own")]

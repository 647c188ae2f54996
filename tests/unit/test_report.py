"""`invoke report` from the servers' own answers: canned STATSZ and JSZ answers, as nats-server
2.14 sends them to the system account, read into the operator's tables."""

from __future__ import annotations

import datetime as dt

import pytest

from courtyard.checks import report
from courtyard.checks.meta_group import MetaGroup, departed, departed_warning
from courtyard.commands.report import render
from courtyard.core.errors import CourtyardError
from courtyard.project import naming
from courtyard.servers.jsz import Replica
from courtyard.servers.system import Answer, system_identity

NOW = dt.datetime(2026, 12, 3, 12, 0, 0, tzinfo=dt.UTC)
N4 = naming.peer_id("n-4")


def statsz(name: str, *, started: str = "2026-12-03T10:58:30Z", routes=("a", "b")) -> Answer:
    return Answer(
        name,
        {
            "server": {"name": name, "ver": "2.14.2"},
            "statsz": {
                "start": started,
                "mem": 20 * 2**20,
                "cpu": 3,
                "connections": 2,
                "slow_consumers": 1,
                # v2.10+ opens several routes per peer: a peer counts once.
                "routes": [{"name": peer} for peer in routes for _ in range(4)],
            },
        },
    )


def jsz(name: str, leader: str, streams: list[dict] | None = None, meta=None) -> Answer:
    return Answer(
        name,
        {
            "server": {"name": name},
            "data": {
                "streams": len(streams or []),
                "consumers": 1,
                "messages": 5,
                "bytes": 195,
                "memory": 0,
                "storage": 2**20,
                "config": {"max_memory": 256 * 2**20, "max_storage": 2**30},
                "meta_cluster": {"leader": leader, **({"replicas": meta} if meta else {})},
                "account_details": [{"name": "$G", "stream_detail": streams or []}],
            },
        },
    )


def orders(leader: str, lag: int = 0, pending: int = 4) -> dict:
    return {
        "name": "ORDERS",
        "cluster": {
            "leader": leader,
            "replicas": [
                {"name": "n-0", "current": True, "lag": 0},
                {"name": "n-2", "current": lag == 0, "lag": lag},
            ],
        },
        "state": {"messages": 5, "bytes": 195},
        "consumer_detail": [
            {
                "name": "pricing",
                "num_pending": pending,
                "num_ack_pending": 1,
                "cluster": {"leader": "n-2"},
            }
        ],
    }


@pytest.fixture
def project(project_factory):
    return project_factory({"release": "n", "fullname_override": "n"})


def test_every_server_and_the_leaders_view_are_reported(project):
    meta = [
        {"name": "n-0", "current": True, "lag": 0},
        {"name": "n-2", "current": False, "offline": True, "lag": 7},
    ]
    found = report.build(
        project,
        "ops",
        [statsz("n-0"), statsz("n-1"), statsz("n-2")],
        [
            jsz("n-0", "n-1", [orders("n-1", pending=0)]),
            jsz("n-1", "n-1", [orders("n-1", lag=3, pending=0)], meta=meta),
            # n-2 leads the consumer: its count, not a follower's stale 0, is reported.
            jsz("n-2", "n-1", [orders("n-1", pending=4)]),
        ],
        NOW,
    )
    assert [row.server for row in found.servers] == ["n-0", "n-1", "n-2"]
    first = found.servers[0]
    assert (first.version, first.uptime, first.routes, first.slow_consumers) == (
        "2.14.2",
        "1h01m",
        2,
        1,
    )
    assert found.meta_leader == "n-1" and found.missing == []
    assert [(f.name, f.current, f.offline, f.lag) for f in found.followers] == [
        ("n-0", True, False, 0),
        ("n-2", False, True, 7),
    ]
    (stream,) = found.streams
    # As its leader reports it: the leader's answer says n-2 lags by 3.
    assert (stream.name, stream.leader, stream.replicas[1].lag) == ("ORDERS", "n-1", 3)
    assert (stream.consumers[0].pending, stream.consumers[0].ack_pending) == (4, 1)
    text = render(found)
    assert "n-2 (NOT current, offline, lag 7)" in text
    assert "1.0 MiB / 1024.0 MiB" in text and "pricing pending 4 ack 1" in text


def test_a_node_that_does_not_answer_is_named_and_the_others_reported(project):
    found = report.build(
        project,
        "ops",
        [statsz("n-0"), statsz("n-1")],
        [jsz("n-0", "n-0"), jsz("n-1", "n-0")],
        NOW,
    )
    assert found.missing == ["n-2"]
    assert [row.server for row in found.jetstream] == ["n-0", "n-1"]
    assert "n-2 did not answer" in render(found)


def test_the_system_identity_is_the_specs_and_a_mistake_is_one_sentence(project_factory):
    with_ops = project_factory()
    assert system_identity(with_ops) == "ops"
    with pytest.raises(CourtyardError, match=r"'dev' is not a system identity.*use one of ops"):
        system_identity(with_ops, "dev")
    without = project_factory({"tls": {"clients": ["dev"]}})
    with pytest.raises(CourtyardError, match=r"no system identity.*`system: true`"):
        system_identity(without)


def test_a_system_identity_is_never_the_default_one(project_factory):
    project = project_factory({"tls": {"clients": [{"name": "ops", "system": True}, "dev"]}})
    assert project.names.default_identity == "dev"
    assert project.names.system_identities == ("ops",)


def test_departed_peers_the_meta_group_still_counts_are_reported_with_their_cost(project):
    """After 5 -> 3 the leader counts five peers; two are no node of the spec, one known by
    name, one only by its peer id (a leader elected after it left never heard its name)."""
    meta = [
        {"name": "n-0", "current": True, "peer": "p0"},
        {"name": "n-2", "current": True, "peer": "p2"},
        {"name": "n-3", "current": False, "offline": True, "peer": "p3"},
        {"name": f"Server name unknown at this time (peerID: {N4})", "offline": True, "peer": N4},
    ]
    answers = [jsz("n-0", "n-1"), jsz("n-1", "n-1", meta=meta), jsz("n-2", "n-1")]
    answers[1].body["data"]["meta_cluster"]["cluster_size"] = 5
    found = report.build(project, "ops", [statsz(f"n-{i}") for i in range(3)], answers, NOW)
    (warning,) = found.meta_group
    assert warning == (
        "the JetStream meta group still counts 5 peers, 2 of them departed node(s) (n-3, n-4) "
        "that are offline: its quorum is 3, so the 3 node(s) left can lose none before "
        "JetStream stops; scale back up to bring them back, or remove them for good with "
        "`invoke up --forget-departed` (as the spec's system identity; those nodes cannot "
        "come back)"
    )
    assert f" ! {warning}" in render(found)


def test_a_peer_id_is_the_hash_nats_server_gives_a_server_name():
    # As nats-server 2.14.2 printed it at start ("Node: uC8NZfGe").
    assert naming.peer_id("bench-3105fd-nats-3") == "uC8NZfGe"


def test_a_spec_node_that_is_down_is_no_departed_peer():
    replicas = [Replica("n-1", False, True, "p1"), Replica("n-3", False, True, "p3")]
    gone = departed(replicas, ["n-0", "n-1", "n-2"])
    assert [(d.label, d.peer) for d in gone] == [("n-3", "p3")]
    group = MetaGroup("n-0", 4, replicas)
    assert not group.all_online(["n-0", "n-1", "n-2"])  # then up removes nothing
    assert departed_warning(3, [], 3) is None
    assert "can lose only 1 before" in departed_warning(4, gone, 4)

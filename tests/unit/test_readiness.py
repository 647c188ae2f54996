"""Readiness verdicts from canned /healthz, /routez and /jsz answers (shaped as nats-server's)."""

from __future__ import annotations

import pytest

from courtyard.checks.placement import LOGIN_REFUSED
from courtyard.checks.readiness import (
    NodeProbe,
    Readiness,
    check,
    judge_node,
    not_ready_sentence,
    poll_endpoints,
)
from courtyard.runtime.ports import free_port_base
from courtyard.servers.monitor import Reply, pool_size

PODS = ["n-0", "n-1", "n-2"]
OK = Reply(200, {"status": "ok"})


POOL = 3


def routez(*peers: str, pooled: int = POOL) -> dict:
    # v2.10+ opens `pool_size` routes per peer, and one more for each pinned account ($SYS);
    # each names the same remote.
    routes = [{"remote_name": p} for p in peers * pooled]
    routes += [{"remote_name": p, "account": "$SYS"} for p in peers]
    return {"routes": [{**route, "rid": i} for i, route in enumerate(routes)]}


def jsz(leader: str = "n-0", replicas=None, streams=()) -> dict:
    if replicas is None:
        replicas = [{"name": p, "current": True, "offline": False} for p in PODS if p != leader]
    return {
        "meta_cluster": {"name": "c", "leader": leader, "replicas": replicas},
        "account_details": [{"name": "$G", "stream_detail": list(streams)}],
    }


def judge(name="n-0", health=OK, routes=None, js=None, full=OK) -> NodeProbe:
    routes = routez(*(p for p in PODS if p != name)) if routes is None else routes
    js = jsz() if js is None else js
    return judge_node(name, 8222, PODS, health, routes, js, full, pool_size=POOL)


def test_a_healthy_meta_leader_is_ready():
    probe = judge()
    assert probe.ready and probe.meta_leader == "n-0" and probe.meta_current
    assert probe.peers == {"n-1", "n-2"}


def test_a_health_failure_stops_the_verdict_there():
    probe = judge_node("n-1", 8222, PODS, Reply(503, {"error": "JetStream not current"}))
    assert probe.problems == ["health endpoint says 503: {'error': 'JetStream not current'}"]
    no_answer = judge_node("n-1", 8222, PODS, Reply(0, "no answer on 127.0.0.1:8222"))
    assert no_answer.problems[0].startswith("health endpoint says nothing")


def test_a_missing_route_is_named():
    probe = judge(routes=routez("n-1"))
    assert "no route yet to n-2" in probe.problems


def test_a_peer_whose_pooled_routes_are_not_all_up_is_not_ready():
    """A fresh cluster was called ready with 5 of 8 routes up; an account whose pool index
    had no route yet timed out its JetStream requests."""
    some = routez("n-1")
    some["routes"] += routez("n-2", pooled=POOL - 1)["routes"]
    assert judge(routes=some).problems == ["routes to n-2 still opening"]


def test_a_missing_route_for_a_pinned_account_is_not_ready():
    pinned_to_one = routez("n-1", "n-2")
    pinned_to_one["routes"] = [
        r for r in pinned_to_one["routes"] if not (r.get("account") and r["remote_name"] == "n-1")
    ]
    assert judge(routes=pinned_to_one).problems == ["routes to n-1 still opening"]


@pytest.mark.parametrize(
    ("varz", "size"),
    [
        ({"cluster": {"pool_size": 3}}, 3),
        ({"cluster": {"pool_size": -1}}, 1),  # pooling off: one route per peer
        ({"cluster": {}}, None),
        ("no answer", None),
        ({"cluster": {"pool_size": True}}, None),
    ],
)
def test_the_pool_size_is_read_from_varz(varz, size):
    assert pool_size(varz) == size


def test_no_meta_leader_yet():
    probe = judge("n-1", js=jsz(leader=""))
    assert probe.problems == ["no JetStream meta leader yet"]


def test_a_meta_leader_outside_the_spec_is_never_ready():
    # After scaling 3 -> 1 the last node may still follow a removed node's leadership.
    probe = judge_node("n-0", 8222, ["n-0"], OK, routez(), jsz(leader="n-2"), OK)
    assert probe.problems == ["meta leader n-2 is not a node of this cluster"]


@pytest.mark.parametrize(
    "replica",
    [
        {"name": "n-2", "current": False, "offline": False},
        {"name": "n-2", "current": True, "offline": True},  # offline peers refuse placement
    ],
)
def test_the_leader_sees_a_peer_not_current_or_offline(replica):
    js = jsz(replicas=[{"name": "n-1", "current": True}, replica])
    probe = judge(js=js)
    assert probe.problems == ["meta leader sees n-2 not current or offline"]
    assert not probe.meta_current


def test_a_follower_does_not_judge_the_meta_group():
    probe = judge("n-1", js=jsz(leader="n-0", replicas=[]))
    assert probe.ready and not probe.meta_current


def test_streams_without_a_leader_or_with_lagging_replicas_are_not_ready():
    leaderless = {"name": "ORDERS", "cluster": {"leader": ""}}
    lagging = {
        "name": "PAYMENTS",
        "cluster": {
            "leader": "n-0",
            "replicas": [{"name": "n-1", "current": True}, {"name": "n-2", "current": False}],
        },
    }
    elsewhere = {
        "name": "OTHER",
        "cluster": {"leader": "n-1", "replicas": [{"name": "n-2", "current": False}]},
    }  # judged by its own leader, not here
    probe = judge(js=jsz(streams=[leaderless, lagging, elsewhere]))
    assert probe.problems == [
        "stream ORDERS has no leader yet",
        "stream PAYMENTS: replica on n-2 not current",
    ]


def test_a_replica_on_a_node_scaled_away_does_not_hold_readiness_back():
    # Scaled from 3 to 2: the R3 stream keeps its quorum; its third replica stays offline.
    stream = {
        "name": "KEEP",
        "cluster": {
            "leader": "n-0",
            "replicas": [{"name": "n-1", "current": True}, {"name": "n-2", "offline": True}],
        },
    }
    pods = ["n-0", "n-1"]
    replicas = [{"name": "n-1", "current": True}, {"name": "n-2", "offline": True}]
    answer = jsz(replicas=replicas, streams=[stream])
    assert judge_node("n-0", 8222, pods, OK, routez("n-1"), answer, OK).ready
    lagging = judge_node("n-0", 8222, PODS, OK, routez("n-1", "n-2"), answer, OK)
    assert "stream KEEP: replica on n-2 not current" in lagging.problems


def test_the_full_health_counts_only_when_asked_and_all_else_is_fine():
    assert judge(full=None).ready
    probe = judge(full=Reply(503, {"error": "stream not current"}))
    assert probe.problems == ["full health says 503: {'error': 'stream not current'}"]


def ready_cluster(*leaders: str) -> Readiness:
    return Readiness(
        [
            judge(
                name,
                js=jsz(
                    leader=leader,
                    replicas=[{"name": p, "current": True} for p in PODS if p != leader],
                ),
            )
            for name, leader in zip(PODS, leaders, strict=True)
        ]
    )


def test_a_cluster_is_ready_when_every_node_is_and_all_agree_on_the_leader():
    state = ready_cluster("n-0", "n-0", "n-0")
    assert state.ready and state.summary().startswith(
        "health 3/3, routes full mesh, meta leader n-0"
    )


def test_nodes_that_disagree_on_the_meta_leader_are_not_ready():
    state = ready_cluster("n-0", "n-1", "n-1")
    assert state.problems == ["nodes disagree on the meta leader: n-0, n-1"]


def test_node_problems_come_first_and_the_final_check_last():
    state = ready_cluster("n-0", "n-0", "n-0")
    state.final_problem = "JetStream does not place a replicated stream yet"
    assert state.problems == ["JetStream does not place a replicated stream yet"]
    state.probes[1].problems.append("no route yet to n-2")
    assert state.problems == ["n-1: no route yet to n-2"]


def test_a_round_stops_at_the_first_node_not_ready_and_the_deadline_asks_every_node():
    """While a cluster elects, each round asks one node; when the wait gives up, the answer
    still names every node. Closed ports on 127.0.0.1 stand for nodes not answering yet."""
    base = free_port_base(3)
    targets = [(f"n-{i}", base + i) for i in range(3)]
    assert [p.name for p in check(targets, until_first_problem=True).probes] == ["n-0"]
    alive_calls = []
    state = poll_endpoints(targets, 0.3, still_alive=lambda: alive_calls.append(1))
    assert [p.name for p in state.probes] == ["n-0", "n-1", "n-2"]
    assert all("health endpoint says nothing" in p.problems[0] for p in state.probes)
    assert alive_calls == []  # the engine is asked about exited containers once a second


def test_why_up_gave_up_is_one_sentence_with_a_grammatical_subject():
    ready = NodeProbe("n-0", 1, meta_leader="n-0")
    late = NodeProbe("n-1", 2, problems=["no meta leader yet"])
    later = NodeProbe("n-2", 3, problems=["no meta leader yet"])
    assert not_ready_sentence(Readiness([ready, late]), 60).startswith(
        "n-1 is not ready after 60s; the diagnosis is above (raise --timeout"
    )
    assert not_ready_sentence(Readiness([late, later]), 60).startswith("n-1, n-2 are not ready")
    whole = Readiness([ready], final_problem="JetStream does not place a replicated stream yet")
    assert not_ready_sentence(whole, 60).startswith("the cluster is not ready after 60s; the")


def test_when_no_identity_can_log_in_up_says_so_and_not_raise_the_timeout():
    refused = Readiness([NodeProbe("n-0", 1, meta_leader="n-0")], final_problem=LOGIN_REFUSED)
    sentence = not_ready_sentence(refused, 60)
    assert "no identity can log in" in sentence and "not a slow machine" in sentence
    assert "--timeout" not in sentence

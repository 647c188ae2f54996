"""The node plan: what `up` does with each node, from the containers Docker has now."""

from __future__ import annotations

from pathlib import Path

import pytest

from courtyard.artefacts.node_containers import NodeDefinition
from courtyard.runtime.plan import ROLL_REASON, ContainerState, plan_nodes


def node(index: int, fingerprint: str = "f1") -> NodeDefinition:
    name = f"n-{index}"
    return NodeDefinition(
        index=index,
        name=name,
        image="img",
        network="net",
        aliases=(name,),
        volume=f"v-{index}",
        mounts=(("/etc/x", Path("/x")),),
        ports=((4222, 4222 + index), (8222, 8222 + index)),
        labels=(),
        config_file=Path(f"/{name}.conf"),
        fingerprint=fingerprint,
    )


NODES = [node(0), node(1), node(2)]


def running(name: str, fingerprint: str = "f1") -> ContainerState:
    return ContainerState(name, "running", fingerprint)


def test_nothing_there_starts_every_node():
    plan = plan_nodes(NODES, {})
    assert [n.name for n in plan.start] == ["n-0", "n-1", "n-2"]
    assert set(plan.reasons.values()) == {"created"}
    assert not plan.changes_nothing and plan.roll == [] and plan.keep == []


def test_every_node_running_unchanged_changes_nothing():
    plan = plan_nodes(NODES, {n.name: running(n.name) for n in NODES})
    assert plan.changes_nothing
    assert [n.name for n in plan.keep] == ["n-0", "n-1", "n-2"]


def test_a_changed_running_node_rolls_and_a_changed_stopped_one_is_replaced():
    existing = {
        "n-0": running("n-0", "old"),
        "n-1": ContainerState("n-1", "exited", "old"),
        "n-2": running("n-2"),
    }
    plan = plan_nodes(NODES, existing)
    assert [(n.name, why) for n, why in plan.roll] == [("n-0", ROLL_REASON)]
    assert [n.name for n in plan.start] == ["n-1"]
    assert plan.reasons["n-1"] == "replaced (changed while stopped)"
    assert [n.name for n in plan.keep] == ["n-2"]
    assert [n.name for n in plan.to_start_or_roll] == ["n-1", "n-0"]


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("exited", "restarted (was exited)"),
        ("created", "restarted (was created)"),
        ("dead", "replaced (its container was dead)"),
    ],
)
def test_an_unchanged_stopped_node_is_started_and_says_what_it_was(status, reason):
    existing = {n.name: running(n.name) for n in NODES}
    existing["n-2"] = ContainerState("n-2", status, "f1")
    plan = plan_nodes(NODES, existing)
    assert [n.name for n in plan.start] == ["n-2"]
    assert plan.reasons["n-2"] == reason


def test_a_paused_node_is_unpaused_unless_it_changed():
    existing = {n.name: running(n.name) for n in NODES}
    existing["n-0"] = ContainerState("n-0", "paused", "f1")
    existing["n-1"] = ContainerState("n-1", "paused", "old")
    plan = plan_nodes(NODES, existing)
    assert [n.name for n in plan.unpause] == ["n-0"]
    assert [n.name for n, _ in plan.roll] == ["n-1"]
    assert not plan.changes_nothing and plan.start == []


def test_a_node_that_lost_its_aliases_is_reconnected_not_replaced():
    existing = {n.name: running(n.name) for n in NODES}
    existing["n-1"] = ContainerState("n-1", "running", "f1", missing_aliases=("n-1",))
    plan = plan_nodes(NODES, existing)
    assert [n.name for n in plan.reconnect] == ["n-1"]
    assert plan.roll == [] and plan.start == [] and not plan.changes_nothing


def test_a_node_running_something_else_rolls_and_says_why():
    existing = {n.name: running(n.name) for n in NODES}
    existing["n-2"] = ContainerState("n-2", "running", "f1", drift=("it serves another cert",))
    plan = plan_nodes(NODES, existing)
    assert plan.roll == [(NODES[2], "drifted: it serves another cert")]


def test_a_container_without_a_fingerprint_is_treated_as_changed():
    plan = plan_nodes(NODES[:1], {"n-0": running("n-0", None)})
    assert [n.name for n, _ in plan.roll] == ["n-0"]


def test_nodes_beyond_the_replicas_are_removed_in_name_order():
    ours = ["n-0", "n-1", "n-2", "n-4", "n-3"]
    plan = plan_nodes(NODES, {n.name: running(n.name) for n in NODES}, ours)
    assert plan.remove == ["n-3", "n-4"]
    assert plan.changes_nothing  # removing extra nodes needs no start or roll


def test_a_kept_node_with_faults_on_its_links_is_healed_in_place():
    faulted = ContainerState("n-1", "running", "f1", link_faults=("partition",))
    plan = plan_nodes(NODES, {"n-0": running("n-0"), "n-1": faulted, "n-2": running("n-2")})
    assert [(n.name, faults) for n, faults in plan.heal] == [("n-1", ("partition",))]
    assert [n.name for n in plan.repairs] == ["n-1"]
    assert not plan.changes_nothing


def test_a_paused_node_with_faults_on_its_links_is_resumed_and_healed():
    faulted = ContainerState("n-1", "paused", "f1", link_faults=("loss",))
    plan = plan_nodes(NODES, {"n-0": running("n-0"), "n-1": faulted, "n-2": running("n-2")})
    assert [n.name for n in plan.unpause] == ["n-1"]
    assert [n.name for n, _ in plan.heal] == ["n-1"]


def test_a_node_that_rolls_is_not_healed_its_new_container_has_clean_links():
    faulted = ContainerState("n-1", "running", "old", link_faults=("partition",))
    plan = plan_nodes(NODES, {"n-0": running("n-0"), "n-1": faulted, "n-2": running("n-2")})
    assert [n.name for n, _ in plan.roll] == ["n-1"]
    assert plan.heal == []

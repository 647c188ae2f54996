"""What `status` makes of the nodes' answers about the meta leader: never one node's word."""

from __future__ import annotations

from courtyard.checks.status import NodeStatus, leader_disagreements


def rows(*entries: tuple[str, str, str]) -> list[NodeStatus]:
    return [NodeStatus(node, container, meta_leader=leader) for node, container, leader in entries]


def test_agreeing_nodes_with_a_running_leader_are_no_problem():
    assert (
        leader_disagreements(
            rows(("a", "running", "b"), ("b", "running", "b"), ("c", "running", "b"))
        )
        == []
    )


def test_nodes_that_disagree_are_each_quoted():
    [problem] = leader_disagreements(
        rows(("a", "running", "a"), ("b", "running", "c"), ("c", "running", "c"))
    )
    assert "disagree" in problem and "a says a" in problem and "b says c" in problem


def test_a_dead_leader_still_named_by_survivors_is_called_out():
    [problem] = leader_disagreements(
        rows(("a", "exited", "-"), ("b", "running", "a"), ("c", "running", "a"))
    )
    assert problem.startswith("b, c still name a as meta leader") and "exited" in problem


def test_a_lone_survivor_calling_itself_leader_has_no_quorum():
    problems = leader_disagreements(
        rows(("a", "exited", "-"), ("b", "paused", "-"), ("c", "running", "c"))
    )
    assert problems == [
        "only 1 of 3 nodes run, too few for a JetStream quorum; the meta leader reported (c) "
        "cannot lead"
    ]

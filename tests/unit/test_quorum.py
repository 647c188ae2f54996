"""Scale-downs that JetStream's meta group survives, and those refused before any change."""

from __future__ import annotations

import pytest

from courtyard.checks.quorum import scale_down_problem


@pytest.mark.parametrize(("peers", "replicas"), [(3, 2), (5, 3), (7, 4), (3, 3)])
def test_a_majority_left_may_scale_down(peers, replicas):
    assert scale_down_problem(peers, replicas) is None


def test_too_few_nodes_left_are_refused_in_one_sentence():
    problem = scale_down_problem(3, 1)
    assert "meta group (3 peers) without its quorum of 2" in problem
    assert "keep replicas at 2 or more" in problem and "invoke down --volumes" in problem
    # Removed peers still count: a cluster once at 5, now at 3, cannot go to 2.
    assert scale_down_problem(5, 2) is not None

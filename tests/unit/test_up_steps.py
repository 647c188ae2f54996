"""`up`'s choice after a lost first election: start the nodes again, or wait for the next."""

from __future__ import annotations

import pytest

from courtyard.lifecycle.up import restart_is_sooner, restart_seconds


def test_three_nodes_on_this_engine_start_again():
    # Starting three containers took 0.8 s; the round was lost 0.4 s after the release.
    assert restart_seconds(0.8) == pytest.approx(2.4)
    assert restart_is_sooner(restart_seconds(0.8), since_release=0.4)


def test_many_nodes_or_a_late_verdict_wait_for_the_next_election():
    # Seven containers took 2 s to start: removing and starting them again is slower.
    assert not restart_is_sooner(restart_seconds(2.0), since_release=0.4)
    # Detected 1.8 s after the release: the next election is due in 2.2 s at the earliest.
    assert not restart_is_sooner(restart_seconds(0.8), since_release=1.8)


def test_the_module_docstring_names_every_step_in_order():
    import re

    from courtyard.lifecycle import up as up_module

    doc, at = up_module.__doc__ or "", 0
    for step in up_module.UP_STEPS:
        found = re.compile(rf"\b{step.__name__}\b").search(doc, at)
        assert found is not None, f"{step.__name__} is not named after position {at}"
        at = found.end()

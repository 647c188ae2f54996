"""Whose is a Docker object: Courtyard touches only what carries its labels for this cluster."""

from __future__ import annotations

import pytest

from courtyard.core.errors import CourtyardError
from courtyard.project import naming
from courtyard.runtime.ownership import Owner, carries_cluster_labels, owner_of, refuse_foreign

OURS = {naming.MANAGED_LABEL: "true", naming.CLUSTER_LABEL: "skunkwolf-nats"}


@pytest.mark.parametrize(
    ("labels", "owner"),
    [
        (OURS, Owner.OURS),
        ({**OURS, naming.COMPOSE_PROJECT_LABEL: "courtyard-skunkwolf-nats"}, Owner.COMPOSE),
        ({naming.MANAGED_LABEL: "true", naming.CLUSTER_LABEL: "other-nats"}, Owner.FOREIGN),
        ({naming.CLUSTER_LABEL: "skunkwolf-nats"}, Owner.FOREIGN),  # not marked managed
        ({naming.MANAGED_LABEL: "false", naming.CLUSTER_LABEL: "skunkwolf-nats"}, Owner.FOREIGN),
        ({}, Owner.FOREIGN),
        (None, Owner.FOREIGN),
    ],
)
def test_owner_is_read_from_the_labels(labels, owner):
    assert owner_of(labels, "skunkwolf-nats") is owner


def test_compose_made_objects_still_carry_the_cluster_labels():
    compose = {**OURS, naming.COMPOSE_PROJECT_LABEL: "courtyard-skunkwolf-nats"}
    assert carries_cluster_labels(compose, "skunkwolf-nats")
    assert not carries_cluster_labels(compose, "other-nats")


def test_refusals_are_one_sentence_naming_the_object_and_what_to_do():
    refuse_foreign("container", "skunkwolf-nats-0", Owner.OURS, "courtyard.yaml")  # no error
    with pytest.raises(
        CourtyardError,
        match=r"not created by Courtyard.*change `release` in "
        r"courtyard\.yaml",
    ) as foreign:
        refuse_foreign("network", "courtyard-skunkwolf-nats", Owner.FOREIGN, "courtyard.yaml")
    with pytest.raises(
        CourtyardError,
        match=r"created by Docker Compose.*docker compose -f "
        r"compose/docker-compose\.yml down",
    ) as compose:
        refuse_foreign("container", "skunkwolf-nats-0", Owner.COMPOSE, "courtyard.yaml")
    assert "\n" not in str(foreign.value) + str(compose.value)

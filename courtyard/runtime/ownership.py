"""Whose is a Docker object? Read from its labels; Courtyard touches only its own.

Pure logic on label dictionaries, so that every rule is unit-tested without an engine.
"""

from __future__ import annotations

from enum import Enum

from courtyard.core.errors import CourtyardError
from courtyard.project import naming


class Owner(Enum):
    OURS = "this Courtyard cluster"
    COMPOSE = "Docker Compose"
    FOREIGN = "something other than Courtyard"


def carries_cluster_labels(labels: dict[str, str] | None, fullname: str) -> bool:
    """Made from this cluster's spec, by `invoke up` or by the exported Compose file.

    Read-only tasks (status, logs, smoke) accept both; data volumes are shared by both, so
    switching between them keeps the JetStream data. Containers are adopted only by `up`.
    """
    labels = labels or {}
    return (
        labels.get(naming.MANAGED_LABEL) == "true" and labels.get(naming.CLUSTER_LABEL) == fullname
    )


def owner_of(labels: dict[str, str] | None, fullname: str) -> Owner:
    """Compose's label wins (Compose manages that object); else ours only with our labels."""
    if (labels or {}).get(naming.COMPOSE_PROJECT_LABEL):
        return Owner.COMPOSE
    if carries_cluster_labels(labels, fullname):
        return Owner.OURS
    return Owner.FOREIGN


def refuse_foreign(kind: str, name: str, owner: Owner, spec_file_name: str) -> None:
    """Raise the one sentence that says why `up` will not touch `name`, unless it is ours."""
    if owner is Owner.COMPOSE:
        raise CourtyardError(
            f"{kind} {name} was created by Docker Compose; `invoke up` does not adopt it. Run "
            f"`docker compose -f compose/docker-compose.yml down` first, then `invoke up`"
        )
    if owner is Owner.FOREIGN:
        raise CourtyardError(
            f"a {kind} named {name} already exists and was not created by Courtyard; "
            f"Courtyard leaves it alone: remove or rename it, or change `release` in "
            f"{spec_file_name}"
        )

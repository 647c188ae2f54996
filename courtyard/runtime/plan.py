"""What `up` does with each node — keep, start, roll or remove — from what Docker has now.

Pure logic: the plan is made from each existing container's state (status and the
fingerprint it was made from), so every case is unit-tested without an engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from docker.models.containers import Container

from courtyard.artefacts.node_containers import NodeSpec
from courtyard.spec import naming

ROLL_REASON = "spec, config or certificates changed"


@dataclass(frozen=True)
class ContainerState:
    """What the plan needs to know of an existing container."""

    name: str
    status: str  # Docker's: created, running, paused, exited, dead, ...
    fingerprint: str | None  # the node fingerprint it was made from (its hash label)

    @property
    def running(self) -> bool:
        return self.status == "running"


def state_of(container: Container) -> ContainerState:
    return ContainerState(container.name, container.status, container.labels.get(naming.HASH_LABEL))


@dataclass
class Plan:
    """What `up` does with each node."""

    start: list[NodeSpec] = field(default_factory=list)  # absent or stopped: brought up together
    roll: list[tuple[NodeSpec, str]] = field(default_factory=list)  # running, must be replaced
    keep: list[NodeSpec] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)  # our containers beyond the spec's replicas
    reasons: dict[str, str] = field(default_factory=dict)  # why each node in `start` starts

    @property
    def changes_nothing(self) -> bool:
        return not self.start and not self.roll

    @property
    def to_start_or_roll(self) -> list[NodeSpec]:
        return self.start + [node for node, _ in self.roll]


def plan_nodes(
    nodes: Iterable[NodeSpec],
    existing: Mapping[str, ContainerState | None],
    ours: Iterable[str] = (),
) -> Plan:
    """The plan for `nodes`, given the container (if any) that holds each node's name now
    and the names of every container of this cluster (`ours`), to find those to remove."""
    plan = Plan()
    wanted = set()
    for node in nodes:
        wanted.add(node.name)
        container = existing.get(node.name)
        if container is None:
            plan.start.append(node)
            plan.reasons[node.name] = "created"
        elif container.fingerprint != node.fingerprint:
            if container.running:
                plan.roll.append((node, ROLL_REASON))
            else:
                plan.start.append(node)
                plan.reasons[node.name] = "replaced (changed while stopped)"
        elif not container.running:
            plan.start.append(node)
            plan.reasons[node.name] = f"restarted (was {container.status})"
        else:
            plan.keep.append(node)
    plan.remove = sorted(name for name in ours if name not in wanted)
    return plan

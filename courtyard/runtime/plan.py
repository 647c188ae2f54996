"""What `up` does with each node — keep, start, roll or remove — from what Docker has now.

Pure logic: the plan is made from each existing container's state (status and the
fingerprint it was made from), so every case is unit-tested without an engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from docker.models.containers import Container

from courtyard.artefacts.node_containers import NodeDefinition
from courtyard.project import naming

ROLL_REASON = "spec or config changed"


@dataclass(frozen=True)
class ContainerState:
    """What the plan needs to know of an existing container."""

    name: str
    status: str  # Docker's: created, running, paused, exited, dead, ...
    fingerprint: str | None  # the node fingerprint it was made from (its hash label)
    missing_aliases: tuple[str, ...] = ()  # names peers cannot resolve it by
    drift: tuple[str, ...] = ()  # why what it runs is not what was generated
    stale_certs: tuple[str, ...] = ()  # why it must reload its certificates
    link_faults: tuple[str, ...] = ()  # faults on its links (partition, ...): healed in place

    @property
    def running(self) -> bool:
        return self.status == "running"


def missing_aliases(container: Container, network: str, aliases: Iterable[str]) -> list[str]:
    """The aliases of `aliases` the container cannot be resolved by on `network` (all of
    them when it is not connected to it)."""
    endpoint = (container.attrs.get("NetworkSettings", {}).get("Networks") or {}).get(network)
    if endpoint is None:
        return list(aliases)
    known = set(endpoint.get("Aliases") or []) | set(endpoint.get("DNSNames") or [])
    return [alias for alias in aliases if alias not in known]


def state_of(
    container: Container,
    node: NodeDefinition | None = None,
    drift: Iterable[str] = (),
    stale_certs: Iterable[str] = (),
    link_faults: Iterable[str] = (),
) -> ContainerState:
    lost = missing_aliases(container, node.network, node.aliases) if node is not None else []
    return ContainerState(
        container.name,
        container.status,
        container.labels.get(naming.HASH_LABEL),
        tuple(lost) if container.status == "running" else (),
        tuple(drift),
        tuple(stale_certs),
        tuple(link_faults),
    )


@dataclass
class Plan:
    """What `up` does with each node."""

    start: list[NodeDefinition] = field(
        default_factory=list
    )  # absent or stopped: brought up together
    roll: list[tuple[NodeDefinition, str]] = field(
        default_factory=list
    )  # running, must be replaced
    keep: list[NodeDefinition] = field(default_factory=list)
    unpause: list[NodeDefinition] = field(default_factory=list)  # paused by someone: resumed
    reconnect: list[NodeDefinition] = field(default_factory=list)  # lost its aliases: reconnected
    heal: list[tuple[NodeDefinition, tuple[str, ...]]] = field(
        default_factory=list
    )  # kept, with faults on its links: removed
    reload: list[tuple[NodeDefinition, str]] = field(default_factory=list)  # new certificates
    remove: list[str] = field(default_factory=list)  # our containers beyond the spec's replicas
    reasons: dict[str, str] = field(default_factory=dict)  # why each node in `start` starts

    @property
    def changes_nothing(self) -> bool:
        return not (
            self.start or self.roll or self.unpause or self.reconnect or self.reload or self.heal
        )

    @property
    def repairs(self) -> list[NodeDefinition]:
        return self.unpause + self.reconnect + [node for node, _ in self.heal]

    @property
    def to_start_or_roll(self) -> list[NodeDefinition]:
        return self.start + [node for node, _ in self.roll]


def plan_nodes(
    nodes: Iterable[NodeDefinition],
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
            if container.running or container.status == "paused":
                plan.roll.append((node, ROLL_REASON))
            else:
                plan.start.append(node)
                plan.reasons[node.name] = "replaced (changed while stopped)"
        elif container.status == "paused":
            plan.unpause.append(node)
        elif container.status == "dead":
            plan.start.append(node)
            plan.reasons[node.name] = "replaced (its container was dead)"
        elif not container.running:
            plan.start.append(node)
            plan.reasons[node.name] = f"restarted (was {container.status})"
        elif container.missing_aliases:
            plan.reconnect.append(node)
        elif container.drift:
            plan.roll.append((node, f"drifted: {'; '.join(container.drift)}"))
        elif container.stale_certs:
            plan.reload.append((node, "; ".join(container.stale_certs)))
        else:
            plan.keep.append(node)
        replaced = plan.start + [n for n, _ in plan.roll]
        if container is not None and container.link_faults and node not in replaced:
            plan.heal.append((node, container.link_faults))
    plan.remove = sorted(name for name in ours if name not in wanted)
    return plan

"""`invoke up`, `down` and `status`: the cluster as Docker containers, step by step.

`up` is idempotent and rolling: nodes whose definition or mounted files changed are replaced
one at a time, each followed by a full readiness wait, as a StatefulSet rolls its pods.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import docker
from docker.models.containers import Container

from courtyard import readiness, runtime
from courtyard.engine import connect
from courtyard.errors import CourtyardError
from courtyard.image import ensure_image
from courtyard.nodes import HASH_LABEL, NodeSpec, node_specs
from courtyard.output import step
from courtyard.project import Project

DEFAULT_TIMEOUT = 60.0


class NotReadyError(CourtyardError):
    """The cluster did not become ready; `diagnosis` says which node and why."""

    def __init__(self, message: str, diagnosis: str) -> None:
        super().__init__(message)
        self.diagnosis = diagnosis


@dataclass
class Plan:
    """What `up` does with each node."""

    start: list[NodeSpec] = field(default_factory=list)  # absent or stopped: brought up together
    roll: list[tuple[NodeSpec, str]] = field(default_factory=list)  # running, must be replaced
    keep: list[NodeSpec] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def changes_nothing(self) -> bool:
        return not self.start and not self.roll


def plan_nodes(nodes: list[NodeSpec], existing: dict[str, Container | None]) -> Plan:
    plan = Plan()
    for node in nodes:
        container = existing[node.name]
        if container is None:
            plan.start.append(node)
            plan.reasons[node.name] = "created"
        elif container.labels.get(HASH_LABEL) != node.fingerprint():
            if container.status == "running":
                plan.roll.append((node, "spec, config or certificates changed"))
            else:
                plan.start.append(node)
                plan.reasons[node.name] = "replaced (changed while stopped)"
        elif container.status != "running":
            plan.start.append(node)
            plan.reasons[node.name] = f"restarted (was {container.status})"
        else:
            plan.keep.append(node)
    return plan


def monitor_targets(nodes: list[NodeSpec]) -> list[tuple[str, int]]:
    return [(node.name, node.monitor_host_port) for node in nodes]


def _fail_if_exited(client: docker.DockerClient, nodes: list[NodeSpec]) -> Callable[[], None]:
    def check() -> None:
        for node in nodes:
            container = runtime.get_container(client, node.name)
            if container is None or container.status in ("exited", "dead"):
                code = container.attrs["State"].get("ExitCode") if container else "gone"
                tail = runtime.log_tail(container) if container else ""
                raise NotReadyError(
                    f"node {node.name} stopped while starting (exit code {code}); its last log "
                    "lines are above; fix the cause and run `invoke up` again",
                    f"--- last log lines of {node.name} ---\n{tail}",
                )
    return check


def wait_ready(client: docker.DockerClient, project: Project, nodes: list[NodeSpec],
               timeout: float) -> str:
    state = readiness.wait_for_cluster(project, monitor_targets(nodes), timeout,
                                       still_alive=_fail_if_exited(client, nodes))
    if state.ready:
        return state.summary()
    lines = []
    for probe in state.probes:
        if probe.ready:
            continue
        container = runtime.get_container(client, probe.name)
        lines.append(f"--- {probe.name} is not ready: {'; '.join(probe.problems)}")
        lines.append(f"    health endpoint: {probe.health}")
        lines.append(f"    last 20 log lines:\n{runtime.log_tail(container) if container else '-'}")
    lines += [f"--- {problem}" for problem in state.cluster_problems]
    not_ready = ", ".join(p.name for p in state.probes if not p.ready) or "the cluster"
    raise NotReadyError(
        f"{not_ready} not ready after {timeout:.0f}s; the diagnosis is above "
        "(raise --timeout if the machine is just slow)",
        "\n".join(lines),
    )


def _in_parallel(jobs: list[Callable[[], object]]) -> None:
    """Run Docker calls side by side (nodes are independent); the first error is raised."""
    if not jobs:
        return
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def _start(client: docker.DockerClient, node: NodeSpec, old: Container | None) -> None:
    if old is not None and old.labels.get(HASH_LABEL) == node.fingerprint():
        old.start()
        return
    if old is not None:
        runtime.remove_container(old)
    runtime.create_node(client, node).start()


def up(project: Project, *, timeout: float = DEFAULT_TIMEOUT,
       prepare: Callable[[Project], None]) -> list[NodeSpec]:
    """Bring the cluster to the spec and wait until it is ready; returns the nodes.

    `prepare` writes certificates and node configs (printing its own steps); it runs after
    the engine answered, so an unreachable engine changes nothing on disk.
    """
    with step("Docker engine") as info:
        client = connect()
        info["detail"] = f"{client.version().get('Version', '?')}"
    prepare(project)
    with step("Node image") as info:
        image = ensure_image(client, project.spec.image)
        info["detail"] = f"{image.tag}, {image.reason}"
    nodes = node_specs(project, image.tag)
    with step("Preflight: names and ports") as info:
        existing, network = runtime.check_names(client, project, nodes)
        ours = runtime.our_containers(client, project)
        held = {port for c in ours if c.status == "running" for port in runtime.published_ports(c)}
        plan = plan_nodes(nodes, existing)
        runtime.check_ports(plan.start + [node for node, _ in plan.roll], held)
        info["detail"] = "nothing to change" if plan.changes_nothing else (
            f"{len(plan.start)} to start, {len(plan.roll)} to roll")
    if plan.changes_nothing and network is not None:
        with step("Ready (already running)") as info:
            info["detail"] = wait_ready(client, project, nodes, timeout)
        _remove_extra(client, project, nodes)
        return nodes
    with step("Network and volumes") as info:
        made_network = runtime.ensure_network(client, project)
        made_volumes = sum(runtime.ensure_volume(client, project, n.volume) for n in nodes)
        info["detail"] = (f"{project.names.network} {'created' if made_network else 'kept'}, "
                          f"{made_volumes} volume(s) created")
    if plan.start:
        with step("Nodes") as info:
            _in_parallel([lambda n=node: _start(client, n, existing[n.name])
                          for node in plan.start])
            info["detail"] = ", ".join(f"{n.name} {plan.reasons[n.name]}" for n in plan.start)
        with step("Waiting for health, routes and JetStream meta leader") as info:
            info["detail"] = wait_ready(client, project, nodes, timeout)
    for node, reason in plan.roll:
        with step(f"Rolling {node.name} ({reason})") as info:
            started = time.monotonic()
            _start(client, node, existing[node.name])
            info["detail"] = (f"ready again after {time.monotonic() - started:.1f}s: "
                              f"{wait_ready(client, project, nodes, timeout)}")
    _remove_extra(client, project, nodes)
    return nodes


def _remove_extra(client: docker.DockerClient, project: Project, nodes: list[NodeSpec]) -> None:
    """Nodes beyond the spec's replicas (after scaling down) are removed; volumes are kept."""
    wanted = {node.name for node in nodes}
    extra = [c for c in runtime.our_containers(client, project) if c.name not in wanted]
    if extra:
        with step("Scaled down") as info:
            _in_parallel([lambda c=c: runtime.remove_container(c) for c in extra])
            info["detail"] = f"removed {', '.join(c.name for c in extra)} (volumes kept)"


@dataclass(frozen=True)
class DownReport:
    containers: list[str]
    network: bool
    volumes: list[str]
    left_alone: list[str]


def down(project: Project, *, volumes: bool = False) -> DownReport:
    """Stop and remove this cluster's containers and network; volumes only when asked."""
    client = connect()
    names = project.names
    containers = runtime.our_containers(client, project)
    _in_parallel([lambda c=c: runtime.remove_container(c) for c in containers])
    network = runtime.get_network(client, names.network)
    removed_network = False
    left_alone = []
    if network is not None:
        if runtime.owner_of(network.attrs.get("Labels"), project) is runtime.Owner.OURS:
            network.remove()
            removed_network = True
        else:
            left_alone.append(f"network {network.name}")
    for pod in names.pods:
        other = runtime.get_container(client, pod)
        if other is not None:
            left_alone.append(f"container {pod}")
    removed_volumes = []
    if volumes:
        for volume in client.volumes.list(filters=runtime.cluster_filter(project)):
            if runtime.carries_cluster_labels(volume.attrs.get("Labels"), project):
                volume.remove(force=True)
                removed_volumes.append(volume.name)
    return DownReport([c.name for c in containers], removed_network, removed_volumes, left_alone)

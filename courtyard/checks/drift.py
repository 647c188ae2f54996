"""Does a running node run what Courtyard generated? Asked of the node itself.

Two comparisons, each cheap:
- the config file its container mounts against the generated `config/nodes/<pod>.conf`;
- the digest nats-server reports for the config it loaded (`/varz` `config_digest`) against
  the digest it reported when `up` last started it (kept in `run/<pod>/config-digest` by
  `servers/records.py`).
Certificates are not drift: a node takes new ones by reload (`stale_certs.py` asks whether it
must).
"""

from __future__ import annotations

from pathlib import Path

from docker.models.containers import Container

from courtyard.artefacts.node_containers import NodeDefinition
from courtyard.checks.stale_certs import stale_reasons
from courtyard.project import naming
from courtyard.project.loaded import Project
from courtyard.runtime import link_faults
from courtyard.runtime.plan import ContainerState, state_of
from courtyard.servers.records import read_record, running_digest


def drift_reasons(project: Project, index: int) -> list[str]:
    """Why the running node `index` does not run what Courtyard generated; [] when it does."""
    names, layout = project.names, project.layout
    pod = names.pod(index)
    reasons = []
    mounted = layout.node_config_mount(pod) / Path(naming.CONFIG_FILE).name
    generated = layout.node_config(pod)
    if mounted.is_file() and generated.is_file() and mounted.read_bytes() != generated.read_bytes():
        reasons.append(f"its mounted config {mounted.name} differs from {generated.name}")
    recorded = read_record(layout.config_digest(pod))
    if recorded is not None:
        running = running_digest(names.monitor_host_port(index))
        if running and running != recorded:
            reasons.append("it runs a config other than the one `up` started it with")
    return reasons


def observe(
    project: Project, nodes: list[NodeDefinition], existing: dict[str, Container | None]
) -> dict[str, ContainerState]:
    """What the plan needs of each existing node container: its state, and for a running
    node that runs what its label says, what it really runs (drift) and serves (old
    certificates). A node whose label already differs is not asked: it rolls anyway."""
    states = {}
    for node in nodes:
        container = existing[node.name]
        if container is None:
            continue
        same = container.labels.get(naming.HASH_LABEL) == node.fingerprint
        asks = same and container.status == "running"
        drift = drift_reasons(project, node.index) if asks else []
        stale = stale_reasons(project, node.index) if asks and not drift else []
        faults = link_faults.applied(container) if same else []
        states[node.name] = state_of(container, node, drift, stale, faults)
    return states

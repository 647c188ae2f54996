"""Does a running node run what Courtyard generated? Asked of the node itself.

Two comparisons, each cheap:
- the config file its container mounts against the generated `config/nodes/<pod>.conf`;
- the digest nats-server reports for the config it loaded (`/varz` `config_digest`) against
  the digest it reported when `up` last started it (kept in `run/<pod>/config-digest`).
Certificates are not drift: a node takes new ones by reload (`checks/reload.py`), which also
reads what it serves.
"""

from __future__ import annotations

from pathlib import Path

from courtyard.artefacts.files import write_file
from courtyard.project import naming
from courtyard.project.loaded import Project
from courtyard.servers import monitor


def running_digest(port: int) -> str | None:
    """The digest of the config the node on monitor port `port` loaded, when it answers."""
    varz = monitor.get(port, "/varz").body
    if not isinstance(varz, dict):
        return None
    return varz.get("config_digest") or None


def record_digest(project: Project, index: int) -> None:
    """Remember the config digest a node reports now that `up` has started it."""
    digest = running_digest(project.names.monitor_host_port(index))
    if digest:
        write_file(project.layout.config_digest(project.names.pod(index)), digest + "\n")


def drift_reasons(project: Project, index: int) -> list[str]:
    """Why the running node `index` does not run what Courtyard generated; [] when it does."""
    names, layout = project.names, project.layout
    pod = names.pod(index)
    reasons = []
    mounted = layout.node_config_mount(pod) / Path(naming.CONFIG_FILE).name
    generated = layout.node_config(pod)
    if mounted.is_file() and generated.is_file() and mounted.read_bytes() != generated.read_bytes():
        reasons.append(f"its mounted config {mounted.name} differs from {generated.name}")
    recorded_file = layout.config_digest(pod)
    if recorded_file.is_file():
        recorded = recorded_file.read_text().strip()
        running = running_digest(names.monitor_host_port(index))
        if running and recorded and running != recorded:
            reasons.append("it runs a config other than the one `up` started it with")
    return reasons

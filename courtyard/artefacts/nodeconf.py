"""`invoke configs`: one nats-server config per node, in the shape the Helm chart renders.

The config names files by the paths the chart mounts in a pod (/etc/nats-certs/...), and the
local containers mount the host files at exactly those paths (`node_mounts`).
`courtyard.artefacts.config_check` checks them with the real nats-server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from courtyard.artefacts import authorization, natsconf, secret_folders
from courtyard.artefacts.files import write_file
from courtyard.project import naming
from courtyard.project.layout import Layout
from courtyard.project.model import Spec
from courtyard.project.naming import ClusterNames

LAME_DUCK_DURATION = "30s"
LAME_DUCK_GRACE_PERIOD = "10s"

# The 0.x chart's nats.connectRetries, which it always renders into the cluster block.
LEGACY_CONNECT_RETRIES = 120


@dataclass(frozen=True)
class Raw:
    """A value written unquoted, like the chart's `<< 1Gi >>`: sizes and durations."""

    text: str


ConfigValue = str | int | bool | Raw | list["ConfigValue"] | dict[str, "ConfigValue"]


def node_config(spec: Spec, names: ClusterNames, index: int) -> dict[str, ConfigValue]:
    """The config of node `index` as an ordered mapping (what the renderer writes)."""
    config: dict[str, ConfigValue] = {
        "server_name": names.pod(index),
        "port": spec.ports.client,
        "http_port": spec.ports.monitor,
        "lame_duck_grace_period": Raw(LAME_DUCK_GRACE_PERIOD),
        "lame_duck_duration": Raw(LAME_DUCK_DURATION),
        "tls": {
            "cert_file": naming.CLIENT_CERT_FILE,
            "key_file": naming.CLIENT_KEY_FILE,
            "ca_file": naming.CA_FILE,
            # verify, and log the client in as the user its certificate's subject names
            "verify_and_map": True,
        },
        "cluster": {
            "name": names.cluster_name,
            "port": spec.ports.cluster,
            "no_advertise": True,
            "routes": list(names.route_urls),
            "tls": {
                "cert_file": naming.ROUTE_CERT_FILE,
                "key_file": naming.ROUTE_KEY_FILE,
                "ca_file": naming.CA_FILE,
                # A route's certificate must name one of the route hosts: a client identity's
                # certificate (same CA, no such name) cannot join the cluster as a server.
                "verify_cert_and_check_known_urls": True,
            },
        },
        "jetstream": {
            "store_dir": naming.STORE_DIR,
            "max_memory_store": Raw(spec.jetstream.memory_store),
            "max_file_store": Raw(spec.jetstream.file_store),
        },
        **authorization.server_config(spec),
    }
    if names.layout == "legacy":
        config["cluster"]["connect_retries"] = LEGACY_CONNECT_RETRIES  # type: ignore[index]
    return config


def tls_mounts(layout: Layout) -> dict[str, Path]:
    """Container folder -> host folder for the certificates and keys every node reads."""
    return {path: secret_folders.host_folder(layout, path) for path in secret_folders.FOLDERS}


def tls_files(layout: Layout) -> dict[str, Path]:
    """Container path -> host file of every certificate and key a node config names."""
    return {
        f"{container_dir}/{name}": secret_folders.host_folder(layout, container_dir) / name
        for container_dir, names in secret_folders.FILES.items()
        for name in names
    }


def node_mounts(layout: Layout, pod: str) -> dict[str, Path]:
    """Container path -> host file, for every file a node reads: its generated config and
    the certificates (what `nats-server -t` checks with host paths swapped in)."""
    return {naming.CONFIG_FILE: layout.node_config(pod), **tls_files(layout)}


def render(config: dict[str, ConfigValue], header: str = "") -> str:
    lines = [f"# {line}" for line in header.splitlines()]
    lines += _render_block(config, 0)
    return "\n".join(lines) + "\n"


def _render_value(value: ConfigValue, depth: int) -> list[str]:
    pad = "  " * depth
    if isinstance(value, dict):
        return ["{", *_render_block(value, depth + 1), f"{pad}}}"]
    if isinstance(value, list):
        lines = ["["]
        for item in value:
            first, *rest = _render_value(item, depth + 1)
            lines += [f"{pad}  {first}", *rest]
        return [*lines, f"{pad}]"]
    if isinstance(value, Raw):
        return [value.text]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, int):
        return [str(value)]
    return [natsconf.quote(value)]


# Keys written bare: config keys, account names ($SYS) and team names. Anything else (a
# subject in `mappings`: dots, wildcards) is quoted.
_BARE_KEY = re.compile(r"^[A-Za-z0-9_$-]+$")


def _render_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else natsconf.quote(key)


def _render_block(block: dict[str, ConfigValue], depth: int) -> list[str]:
    pad = "  " * depth
    lines = []
    for key, value in block.items():
        first, *rest = _render_value(value, depth)
        sep = " " if isinstance(value, dict | list) else ": "
        lines.append(f"{pad}{_render_key(key)}{sep}{first}")
        lines += rest
    return lines


@dataclass(frozen=True)
class ConfigResult:
    pod: str
    path: Path
    changed: bool


def write_configs(
    spec: Spec,
    names: ClusterNames,
    layout: Layout,
    before_writing: Callable[[dict[str, str]], None] | None = None,
) -> list[ConfigResult]:
    """Write config/nodes/<pod>.conf for every node; untouched when already current.
    `before_writing` gets every pod's text first and may refuse them (raise): then
    nothing is written."""
    header = (
        f"Generated by Courtyard from {spec.path.name}; do not edit, run `invoke configs`.\n"
        f"Cluster {names.cluster_name}: {names.replicas} nodes, as the nats/nats chart "
        "renders them."
    )
    texts = {pod: render(node_config(spec, names, i), header) for i, pod in enumerate(names.pods)}
    if before_writing is not None:
        before_writing(texts)
    return [
        ConfigResult(pod, layout.node_config(pod), write_file(layout.node_config(pod), text))
        for pod, text in texts.items()
    ]

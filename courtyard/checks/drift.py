"""Does a running node run what Courtyard generated? Asked of the node itself.

Two comparisons, each cheap:
- the config file its container mounts against the generated `config/nodes/<pod>.conf`;
- the digest nats-server reports for the config it loaded (`/varz` `config_digest`) against
  the digest it reported when `up` last started it (kept in `run/<pod>/config-digest`).
Certificates are not drift: a node takes new ones by reload (`checks/reload.py`), which also
reads what it serves (`served_fingerprint`).
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from pathlib import Path

from courtyard.artefacts.files import write_file
from courtyard.checks import monitor
from courtyard.spec import naming
from courtyard.spec.project import Project

HANDSHAKE_TIMEOUT = 3.0


def digest_file(project: Project, pod: str) -> Path:
    return project.layout.run / pod / "config-digest"


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
        write_file(digest_file(project, project.names.pod(index)), digest + "\n")


def served_fingerprint(project: Project, port: int, *, info_first: bool = True) -> str | None:
    """SHA-256 of the certificate served on 127.0.0.1:`port` (a client or route port), None
    when no TLS handshake completes. NATS sends its INFO line in the clear, then upgrades to
    TLS (`info_first`); a route listener starts with the TLS handshake. Courtyard's own client
    certificate answers a listener that asks for one."""
    layout = project.layout
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # read what is served, whoever signed it
    own = naming.RESERVED_IDENTITY
    try:
        context.load_cert_chain(layout.client_cert(own), layout.client_key(own))
        with socket.create_connection(("127.0.0.1", port), HANDSHAKE_TIMEOUT) as sock:
            sock.settimeout(HANDSHAKE_TIMEOUT)
            info = b"" if info_first else b"\n"
            while not info.endswith(b"\n") and len(info) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                info += chunk
            with context.wrap_socket(sock) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None
    return hashlib.sha256(der).digest().hex(":").upper() if der else None


def drift_reasons(project: Project, index: int) -> list[str]:
    """Why the running node `index` does not run what Courtyard generated; [] when it does."""
    names, layout = project.names, project.layout
    pod = names.pod(index)
    reasons = []
    mounted = layout.node_config_mount(pod) / Path(naming.CONFIG_FILE).name
    generated = layout.node_config(pod)
    if mounted.is_file() and generated.is_file() and mounted.read_bytes() != generated.read_bytes():
        reasons.append(f"its mounted config {mounted.name} differs from {generated.name}")
    recorded_file = digest_file(project, pod)
    if recorded_file.is_file():
        recorded = recorded_file.read_text().strip()
        running = running_digest(names.monitor_host_port(index))
        if running and recorded and running != recorded:
            reasons.append("it runs a config other than the one `up` started it with")
    return reasons

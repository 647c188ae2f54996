"""Certificates reach running nodes by reload, as the chart's config reloader does it.

What a node really serves is read by a TLS handshake on its client port and on its route
port (both published on 127.0.0.1): the served certificate's fingerprint. A reload is SIGHUP
through the Docker engine, confirmed by `/varz` `config_load_time` moving on and by both
listeners serving the certificates in the folders; what it then loaded is recorded
(`records.record_loaded`). Whether a node must reload is a question: `checks/stale_certs.py`.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import time

import docker

from courtyard.artefacts import pki, secret_folders
from courtyard.core.errors import CourtyardError
from courtyard.core.polling import WaitTimeout, poll
from courtyard.project import naming
from courtyard.project.loaded import Project
from courtyard.runtime import docker_objects
from courtyard.servers import monitor
from courtyard.servers.records import record_loaded

RELOAD_TIMEOUT = 15.0
HANDSHAKE_TIMEOUT = 3.0


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


def expected_fingerprints(project: Project) -> dict[str, str]:
    """Listener -> fingerprint of the certificate it must serve, from the folders."""
    layout = project.layout
    found = {}
    for listener, container_dir in (
        ("client", naming.CLIENT_TLS_DIR),
        ("route", naming.ROUTE_TLS_DIR),
    ):
        path = secret_folders.host_folder(layout, container_dir) / naming.TLS_CERT
        try:
            found[listener] = pki.fingerprint(pki.load_cert(path))
        except (OSError, ValueError):
            continue
    return found


def served(project: Project, index: int) -> dict[str, str | None]:
    """Listener -> fingerprint of what node `index` serves there now (None: no handshake)."""
    names = project.names
    return {
        "client": served_fingerprint(project, names.client_host_port(index)),
        "route": served_fingerprint(project, names.cluster_host_port(index), info_first=False),
    }


def _load_time(project: Project, index: int) -> str | None:
    varz = monitor.get(project.names.monitor_host_port(index), "/varz").body
    return varz.get("config_load_time") if isinstance(varz, dict) else None


def reload_node(client: docker.DockerClient, project: Project, index: int) -> str:
    """Make node `index` reload (SIGHUP) and wait until it serves the folders' certificates
    on both listeners; returns what it confirmed. CourtyardError when it does not."""
    pod = project.names.pod(index)
    container = docker_objects.get_container(client, pod)
    if container is None:
        raise CourtyardError(f"no container {pod} to reload; run `invoke up`")
    before = _load_time(project, index)
    expected = expected_fingerprints(project)
    started = time.monotonic()
    container.kill(signal="SIGHUP")

    def reloaded() -> bool:
        if _load_time(project, index) == before:
            return False
        now = served(project, index)
        return all(now.get(name) == sha for name, sha in expected.items())

    try:
        poll(reloaded, what=f"{pod} to reload its certificates", timeout=RELOAD_TIMEOUT)
    except WaitTimeout:
        tail = docker_objects.log_tail(container, 5).replace("\n", " | ")
        raise CourtyardError(
            f"{pod} did not take up the new certificates within {RELOAD_TIMEOUT:.0f}s after "
            f"SIGHUP (its log ends: {tail[-300:]}); run `invoke up` again, it rolls the node "
            "if a reload cannot do it"
        ) from None
    record_loaded(project, index)
    return f"serves the new client and route certificates ({time.monotonic() - started:.2f}s)"

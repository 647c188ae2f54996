"""nats-py connections to the cluster from the host: mutual TLS, hostname verification on."""

from __future__ import annotations

import ssl
from pathlib import Path

import nats
from nats.aio.client import Client

from courtyard.project import Project


def tls_context(ca_file: Path, cert_file: Path | None = None,
                key_file: Path | None = None) -> ssl.SSLContext:
    """Trusts only `ca_file`, verifies the host name, presents the client pair when given."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    if cert_file is not None:
        context.load_cert_chain(str(cert_file), str(key_file))
    return context


def client_context(project: Project, identity: str | None = None) -> ssl.SSLContext:
    who = identity or project.spec.tls.clients[0]
    layout = project.layout
    return tls_context(layout.ca_cert, layout.client_cert(who), layout.client_key(who))


def node_url(project: Project, index: int) -> str:
    return f"tls://localhost:{project.spec.host_ports.client + index}"


async def _quiet(error: Exception) -> None:
    """Connection errors surface as exceptions where they matter; no log noise meanwhile."""


async def _quiet_event() -> None:
    pass


async def connect(project: Project, indexes: list[int] | None = None, *,
                  identity: str | None = None, name: str = "courtyard", **options) -> Client:
    """Connect to the given nodes (default: all) with the spec's client certificate."""
    chosen = indexes if indexes is not None else list(range(project.spec.replicas))
    defaults = {"connect_timeout": 3, "max_reconnect_attempts": 0, "allow_reconnect": False,
                "error_cb": _quiet, "disconnected_cb": _quiet_event,
                "reconnected_cb": _quiet_event, "closed_cb": _quiet_event}
    return await nats.connect(
        servers=[node_url(project, i) for i in chosen], tls=client_context(project, identity),
        name=name, **{**defaults, **options},
    )

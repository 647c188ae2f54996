"""nats-py connections to the cluster from the host: mutual TLS, hostname verification on."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import nats
from nats.aio.client import Client

from courtyard.project import naming
from courtyard.project.loaded import Project

T = TypeVar("T")


def tls_context(
    ca_file: Path, cert_file: Path | None = None, key_file: Path | None = None
) -> ssl.SSLContext:
    """Trusts only `ca_file`, verifies the host name, presents the client pair when given."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    if cert_file is not None:
        context.load_cert_chain(str(cert_file), str(key_file))
    return context


def client_context(project: Project, identity: str | None = None) -> ssl.SSLContext:
    """As `identity`, else as Courtyard's own identity (full access, not in the spec)."""
    who = identity or naming.RESERVED_IDENTITY
    layout = project.layout
    # The bundle: during a CA rotation the nodes serve leaves of either CA.
    trusted = layout.ca_bundle if layout.ca_bundle.is_file() else layout.ca_cert
    return tls_context(trusted, layout.client_cert(who), layout.client_key(who))


async def _quiet(error: Exception) -> None:
    """Connection errors surface as exceptions where they matter; no log noise meanwhile."""


async def _quiet_event() -> None:
    pass


async def connect(
    project: Project,
    indexes: list[int] | None = None,
    *,
    identity: str | None = None,
    role: str = "",
    **options,
) -> Client:
    """Connect to the given nodes (default: all) as `identity` (default: Courtyard's own)."""
    chosen = indexes if indexes is not None else list(range(project.spec.replicas))
    defaults = {
        "connect_timeout": 3,
        "max_reconnect_attempts": 0,
        "allow_reconnect": False,
        "error_cb": _quiet,
        "disconnected_cb": _quiet_event,
        "reconnected_cb": _quiet_event,
        "closed_cb": _quiet_event,
    }
    return await nats.connect(
        servers=[project.names.client_url(i) for i in chosen],
        tls=client_context(project, identity),
        name=naming.connection_name(role),
        **{**defaults, **options},
    )


def run_quietly(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, without asyncio's warning for every TLS connection nats-py closes
    ("returning true from eof_received() has no effect when using ssl")."""
    asyncio_log = logging.getLogger("asyncio")
    level = asyncio_log.level
    asyncio_log.setLevel(logging.ERROR)
    try:
        return asyncio.run(coroutine)
    finally:
        asyncio_log.setLevel(level)


def server_info(port: int, timeout: float = 3.0) -> dict[str, Any]:
    """The INFO a node sends on its client port (127.0.0.1) before anything else, TLS or
    not: its server name, cluster and version, read from the protocol itself rather than
    from a client library's private state. {} when it sends none."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        line = conn.makefile("rb").readline(64 * 1024).decode(errors="replace")
    if not line.startswith("INFO "):
        return {}
    try:
        info = json.loads(line[5:])
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}

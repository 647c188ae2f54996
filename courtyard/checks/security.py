"""Security probes: each one tries to get in the wrong way and must be refused.

A probe reports True when the server refused it. Used by `invoke smoke` (check e).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats

from courtyard.artefacts import pki
from courtyard.artefacts.pki import Name, Usage
from courtyard.project.naming import localhost_url
from courtyard.project.sans import dns
from courtyard.servers.natsclient import tls_context


async def plaintext_refused(port: int) -> tuple[bool, str]:
    """A client that speaks plain NATS (no TLS) must not get a PONG."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 3)
    except OSError as exc:
        return False, f"could not reach 127.0.0.1:{port}: {exc}"
    try:
        await asyncio.wait_for(reader.readline(), 3)  # INFO
        writer.write(b'CONNECT {"verbose":false,"pedantic":false,"tls_required":false}\r\nPING\r\n')
        await writer.drain()
        answer = b""
        deadline = time.monotonic() + 3
        while b"\n" not in answer and time.monotonic() < deadline:
            chunk = await asyncio.wait_for(reader.read(256), 3)
            if not chunk:
                break
            answer += chunk
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        answer = b""
    finally:
        writer.close()
    if answer.startswith(b"PONG"):
        return False, "a plaintext client got PONG"
    said = answer.decode(errors="replace").strip() or "connection closed"
    return True, f"refused ({said[:60]})"


async def tls_refused(port: int, context: ssl.SSLContext) -> tuple[bool, str]:
    """A TLS client with `context` must fail to connect (or be cut off at its first PING)."""
    try:
        nc = await nats.connect(
            localhost_url(port),
            tls=context,
            connect_timeout=3,
            allow_reconnect=False,
            max_reconnect_attempts=0,
            error_cb=_ignore,
        )
    except Exception as exc:  # nats-py raises many kinds here; any of them means refused
        said = str(exc).removeprefix("nats: ").strip("'")
        reason = getattr(exc, "reason", None) or said or type(exc).__name__
        return True, f"refused ({reason})"
    try:
        await nc.flush(timeout=2)
    except Exception as exc:
        return True, f"refused at first PING ({type(exc).__name__})"
    finally:
        await nc.close()
    return False, "the server accepted the connection"


async def _ignore(error: Exception) -> None:
    """The refusal is the expected outcome; nats-py need not log it."""


# The probe with a valid certificate of the cluster's CA for an identity no user maps to.
STRANGER = "identity not in the spec"


def client_probes(
    ca_file: Path,
    ca_key_file: Path,
    folder: Path,
    *,
    stranger: Name | None = None,
    cluster_pairs: dict[str, tuple[Path, Path]] | None = None,
) -> dict[str, Callable[[int], Awaitable[tuple[bool, str]]]]:
    """The client-side probes, with their certificates made on the fly in `folder`.

    Clients trust `ca_file`; the expired certificate is signed by that CA (`ca_key_file`),
    and so is the `stranger`'s: a valid certificate for an identity the server has no user
    for. `cluster_pairs` are the cluster's own certificates (route, server), which must not
    work as a client's.
    """
    ca_cert, ca_key = pki.load_cert(ca_file), pki.load_key(ca_key_file)
    other_ca, other_key = pki.create_ca(Name("Courtyard smoke: another CA"), 1)
    foreign, foreign_key = pki.issue_leaf(
        other_ca, other_key, Name("intruder"), [dns("intruder")], Usage.CLIENT, 1
    )
    pki.write_pair(foreign, foreign_key, folder / "foreign.crt", folder / "foreign.key")
    past = pki.utcnow() - dt.timedelta(days=2)
    expired, expired_key = pki.issue_leaf(
        ca_cert,
        ca_key,
        Name("expired"),
        [],
        Usage.CLIENT,
        1,
        now=past,
        not_after=past + dt.timedelta(days=1),
    )
    pki.write_pair(expired, expired_key, folder / "expired.crt", folder / "expired.key")
    probes = {
        "plaintext connection": plaintext_refused,
        "TLS without a client certificate": lambda port: tls_refused(port, tls_context(ca_file)),
        "client certificate from another CA": lambda port: tls_refused(
            port, tls_context(ca_file, folder / "foreign.crt", folder / "foreign.key")
        ),
        "expired client certificate": lambda port: tls_refused(
            port, tls_context(ca_file, folder / "expired.crt", folder / "expired.key")
        ),
    }
    if stranger is not None:
        cert, key = pki.issue_leaf(ca_cert, ca_key, stranger, [], Usage.CLIENT, 1)
        pki.write_pair(cert, key, folder / "stranger.crt", folder / "stranger.key")
        probes[STRANGER] = lambda port: tls_refused(
            port, tls_context(ca_file, folder / "stranger.crt", folder / "stranger.key")
        )
    for label, pair in (cluster_pairs or {}).items():
        probes[f"{label} certificate as a client"] = lambda port, pair=pair: tls_refused(
            port, tls_context(ca_file, *pair)
        )
    return probes


async def run_client_probes(
    ca_file: Path, ca_key_file: Path, port: int, **extra
) -> list[tuple[str, bool, str]]:
    """Every client probe against 127.0.0.1:`port`: (probe, refused, detail); `extra` are
    the optional probes of `client_probes`."""
    with tempfile.TemporaryDirectory(prefix="courtyard-probe-") as tmp:
        probes = client_probes(ca_file, ca_key_file, Path(tmp), **extra)
        results = []
        for name, probe in probes.items():
            refused, detail = await probe(port)
            results.append((name, refused, detail))
        return results


async def stranger_refused(
    ca_file: Path, ca_key_file: Path, port: int, stranger: Name
) -> tuple[bool, str]:
    """A valid certificate of the cluster's CA for an identity the servers have no user for
    is refused at login: (refused, detail)."""
    with tempfile.TemporaryDirectory(prefix="courtyard-probe-") as tmp:
        probes = client_probes(ca_file, ca_key_file, Path(tmp), stranger=stranger)
        refused, detail = await probes[STRANGER](port)
    return refused, at_login(detail)


def at_login(detail: str) -> str:
    """The stranger probe's detail, saying where it was refused: a valid certificate of the
    cluster's CA gets through the handshake and is refused at login."""
    return detail.replace("refused (", "refused at login (", 1)

"""The last readiness question, asked of JetStream itself: will it place a replicated stream?

Every monitoring endpoint can look ready while the meta leader still lacks a fresh peer's
statistics, and then refuses streams with "no suitable peers for placement, peer offline"
(seen here right after a cold start under load). So readiness ends by creating and deleting
a tiny in-memory stream with the cluster's replica count, over mutual TLS like any client.
"""

from __future__ import annotations

import secrets

from nats.js.api import StorageType

from courtyard.project.loaded import Project
from courtyard.servers.natsclient import connect, run_quietly

PROBE_PREFIX = "COURTYARD_READY_"
# The servers answer and route, but refuse Courtyard's own certificate at login: the users
# in the configs match no certificate subject, so no identity can log in.
LOGIN_REFUSED = (
    "the servers refuse Courtyard's own certificate at login (Authorization Violation), so "
    "no identity can log in"
)


async def _probe(project: Project) -> str | None:
    try:
        nc = await connect(project, role="readiness")
    except Exception as exc:  # any connection failure means: not ready yet
        if "authorization violation" in str(exc).lower():
            return LOGIN_REFUSED
        return f"no client connection yet ({type(exc).__name__})"
    name = f"{PROBE_PREFIX}{secrets.token_hex(4).upper()}"
    js = nc.jetstream(timeout=2)
    try:
        await js.add_stream(
            name=name, storage=StorageType.MEMORY, num_replicas=min(3, project.spec.replicas)
        )
    except Exception as exc:
        description = getattr(exc, "description", None) or type(exc).__name__
        await nc.close()
        return f"JetStream does not place a replicated stream yet ({description})"
    try:
        await js.delete_stream(name)
    except Exception as exc:
        return f"JetStream placed a stream but did not delete it yet ({type(exc).__name__})"
    finally:
        await nc.close()
    return None


def placement_problem(project: Project) -> str | None:
    """None when JetStream placed (and removed) a replicated stream; else why not."""
    return run_quietly(_probe(project))

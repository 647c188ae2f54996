"""Removing departed peers from the JetStream meta group, and remembering which were.

`$JS.API.SERVER.REMOVE` (what `nats server raft peer-remove` sends) asks the meta leader to
forget a peer; only a user of the system account may send it. A removed server that comes
back disables its JetStream (checks/meta_group.py says why this is the user's choice), so the
names removed are kept in `run/forgotten-peers.json` until the data goes (`down --volumes`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from courtyard.artefacts.files import write_file
from courtyard.core.errors import CourtyardError
from courtyard.core.polling import WaitTimeout, poll
from courtyard.project.layout import Layout
from courtyard.project.loaded import Project
from courtyard.servers import jsz, system
from courtyard.servers.natsclient import run_quietly


def forgotten(layout: Layout) -> list[str]:
    """The nodes removed from this cluster's meta group by `up --forget-departed`."""
    try:
        found = json.loads(layout.forgotten_peers.read_text())
    except (OSError, ValueError):
        return []
    return [str(name) for name in found] if isinstance(found, list) else []


def remember_forgotten(layout: Layout, names: Sequence[str]) -> None:
    write_file(layout.forgotten_peers, json.dumps(sorted({*forgotten(layout), *names})).encode())


async def _remove(project: Project, peers: dict[str, str]) -> list[str]:
    nc = await system.connect_system(project)
    try:
        problems = []
        for peer, label in peers.items():
            error = await system.remove_peer(nc, peer_id=peer)
            if error:
                problems.append(f"{label}: {error}")
        return problems
    finally:
        await nc.close()


def counted_peers(targets: Sequence[tuple[str, int]]) -> set[str] | None:
    """The peer ids the meta leader among `targets` counts besides itself; None without one."""
    view = jsz.leader_view(targets)
    return None if view is None else {replica.peer for replica in view[1].meta_replicas}


def remove(project: Project, peers: dict[str, str], timeout: float) -> None:
    """Ask the meta leader, as the spec's system identity, to forget each peer of `peers`
    (peer id -> name); returns once it no longer counts them. One sentence when it refuses."""
    remember_forgotten(project.layout, list(peers.values()))
    problems = run_quietly(_remove(project, peers))
    if problems:
        raise CourtyardError(
            f"the meta leader did not remove the departed peer(s): {'; '.join(problems)}; "
            "run `invoke up --forget-departed` again"
        )
    targets = project.names.monitor_targets
    try:
        poll(
            lambda: counted_peers(targets),
            what="the meta group to forget the departed peers",
            timeout=timeout,
            interval=0.2,
            done=lambda counted: counted is not None and not set(peers) & counted,
        )
    except WaitTimeout as exc:
        raise CourtyardError(
            f"the meta leader accepted removing {', '.join(peers.values())} but still counts "
            f"them ({exc}); run `invoke status`, then `invoke up --forget-departed` again"
        ) from None

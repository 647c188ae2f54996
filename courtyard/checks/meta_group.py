"""Peers the JetStream meta group still counts after a scale-down.

Removing nodes does not remove their peers from the meta group: nats-server keeps counting
them, offline, in its quorum. After 5 -> 3 the group is 5 peers with a quorum of 3, so the
three nodes left can lose none: one more lost node stops JetStream, where a fresh three-node
cluster could lose one. A leader elected after they left may not even know their names
("Server name unknown at this time (peerID: ...)"), only their peer ids. `invoke up` asks the
meta leader to forget them (`$JS.API.SERVER.REMOVE`, a system identity's request, by peer
id), and `status` and `report` warn while they are counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from courtyard.checks.quorum import quorum
from courtyard.core.errors import CourtyardError
from courtyard.core.polling import WaitTimeout, poll
from courtyard.project.loaded import Project
from courtyard.servers import jsz as jsz_reader
from courtyard.servers import system
from courtyard.servers.jsz import Replica
from courtyard.servers.natsclient import run_quietly

UNKNOWN_NAME = "Server name unknown"  # how nats-server names a peer it never heard from


@dataclass(frozen=True)
class Departed:
    """A peer the meta group counts, offline, that is no node of the spec."""

    label: str  # its server name, or "a server of peer id X" when the leader never knew it
    peer: str  # its peer id


def departed(replicas: Sequence[Replica], pods: Sequence[str]) -> list[Departed]:
    """The offline peers of `replicas` (a leader's list of the other peers) that are no node
    of the spec."""
    found = []
    for replica in replicas:
        if not replica.offline or replica.name in pods:
            continue
        known = replica.name and not replica.name.startswith(UNKNOWN_NAME)
        label = replica.name if known else f"a server of peer id {replica.peer}"
        found.append(Departed(label, replica.peer))
    return sorted(found, key=lambda d: d.label)


@dataclass(frozen=True)
class MetaGroup:
    """The meta group as its leader sees it."""

    leader: str
    size: int  # how many peers it counts, the leader included
    replicas: list[Replica]  # the other peers

    def departed(self, pods: Sequence[str]) -> list[Departed]:
        return departed(self.replicas, pods)

    def all_online(self, pods: Sequence[str]) -> bool:
        """Whether every node of the spec is an online peer: only then is every offline
        peer surely a departed node, safe to remove."""
        online = {self.leader} | {r.name for r in self.replicas if not r.offline}
        return set(pods) <= online


def meta_group(targets: Sequence[tuple[str, int]]) -> MetaGroup | None:
    """The group as the node of `targets` that leads it reports it; None without a leader."""
    for name, port in targets:
        answer = jsz_reader.fetch(port, "/jsz")
        if answer.meta_leader == name:
            replicas = answer.meta_replicas
            return MetaGroup(name, answer.meta_size or len(replicas) + 1, replicas)
    return None


def departed_warning(size: int, gone: Sequence[Departed], nodes: int) -> str | None:
    """What departed peers cost, in one sentence, and what removes them; None without any."""
    if not gone:
        return None
    needed = quorum(size)
    spare = nodes - needed
    can_lose = "none" if spare <= 0 else f"only {spare}" if spare == 1 else f"{spare}"
    return (
        f"the JetStream meta group still counts {size} peers, {len(gone)} of them departed "
        f"node(s) ({', '.join(d.label for d in gone)}) that are offline: its quorum is "
        f"{needed}, so the {nodes} node(s) left can lose {can_lose} before JetStream stops; "
        "`invoke up` removes departed peers (as the spec's system identity; without one, add "
        "it to the spec, or run `nats server raft peer-remove` with a system user)"
    )


def departed_peers_warning(targets: Sequence[tuple[str, int]], pods: Sequence[str]) -> str | None:
    """`departed_warning` for the running cluster of `targets` (the spec's `pods`)."""
    group = meta_group(targets)
    if group is None:
        return None
    return departed_warning(group.size, group.departed(pods), len(pods))


async def _remove(project: Project, gone: Sequence[Departed]) -> list[str]:
    nc = await system.connect_system(project)
    try:
        problems = []
        for peer in gone:
            error = await system.remove_peer(nc, peer_id=peer.peer)
            if error:
                problems.append(f"{peer.label}: {error}")
        return problems
    finally:
        await nc.close()


def remove_departed(project: Project, gone: Sequence[Departed], timeout: float) -> MetaGroup:
    """Ask the meta leader, as the spec's system identity, to forget each of `gone`; returns
    the group once it no longer counts them. One sentence when it refuses."""
    problems = run_quietly(_remove(project, gone))
    if problems:
        raise CourtyardError(
            f"the meta leader did not remove the departed peer(s): {'; '.join(problems)}; "
            "run `invoke up` again, or `nats server raft peer-remove` as a system user"
        )
    targets = project.names.monitor_targets
    ids = {peer.peer for peer in gone}
    try:
        return poll(
            lambda: meta_group(targets),
            what="the meta group to forget the departed peers",
            timeout=timeout,
            interval=0.2,
            done=lambda group: group is not None and not ids & {r.peer for r in group.replicas},
        )
    except WaitTimeout as exc:
        raise CourtyardError(
            f"the meta leader accepted removing {', '.join(p.label for p in gone)} but still "
            f"counts them ({exc}); run `invoke status` and `invoke up` again"
        ) from None

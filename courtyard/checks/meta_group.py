"""Peers the JetStream meta group still counts after a scale-down.

Removing nodes does not remove their peers from the meta group: nats-server keeps counting
them, offline, in its quorum. After 5 -> 3 the group is 5 peers with a quorum of 3, so the
three nodes left can lose none: one more lost node stops JetStream, where a fresh three-node
cluster could lose one. A leader elected after they left may not know their names ("Server
name unknown at this time (peerID: ...)"); a peer id is a hash of the server name
(`naming.peer_id`), so the nodes scaled away are recognised by it.

`status`, `report` and `up` warn while departed peers are counted. Removing them
(`$JS.API.SERVER.REMOVE`, a system identity's request) is the user's choice,
`invoke up --forget-departed`, because it is for good: a removed server that comes back
catches up its own removal and disables JetStream ("JetStream being DISABLED, our server was
removed from the cluster"), also on a fresh volume (measured with nats-server 2.14.2), so
those nodes cannot be scaled back. `up` remembers them and refuses such a scale-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from courtyard.checks.quorum import quorum
from courtyard.project import naming
from courtyard.project.layout import Layout
from courtyard.project.load import MAX_REPLICAS
from courtyard.project.naming import ClusterNames
from courtyard.servers import jsz as jsz_reader
from courtyard.servers import meta_peers
from courtyard.servers.jsz import Replica

UNKNOWN_NAME = "Server name unknown"  # how nats-server names a peer it never heard from


@dataclass(frozen=True)
class Departed:
    """A peer the meta group counts, offline, that is no node of the spec."""

    label: str  # its server name, or "a server of peer id X" when the leader never knew it
    peer: str  # its peer id


def departed(
    replicas: Sequence[Replica], pods: Sequence[str], former: Sequence[str] = ()
) -> list[Departed]:
    """The offline peers of `replicas` (a leader's list of the other peers) that are no node
    of the spec; named by their peer id among `former` (the pods a larger spec would have)
    when the leader does not know their names."""
    by_id = {naming.peer_id(name): name for name in former}
    found = []
    for replica in replicas:
        if not replica.offline or replica.name in pods:
            continue
        known = replica.name and not replica.name.startswith(UNKNOWN_NAME)
        name = replica.name if known else by_id.get(replica.peer)
        found.append(Departed(name or f"a server of peer id {replica.peer}", replica.peer))
    return sorted(found, key=lambda d: d.label)


def former_pods(names: ClusterNames) -> list[str]:
    """The pods a larger spec of this cluster would have: what a departed peer was."""
    return [names.pod(i) for i in range(names.replicas, MAX_REPLICAS)]


@dataclass(frozen=True)
class MetaGroup:
    """The meta group as its leader sees it."""

    leader: str
    size: int  # how many peers it counts, the leader included
    replicas: list[Replica]  # the other peers

    def departed(self, names: ClusterNames) -> list[Departed]:
        return departed(self.replicas, names.pods, former_pods(names))

    def all_online(self, pods: Sequence[str]) -> bool:
        """Whether every node of the spec is an online peer: only then is every offline
        peer surely a departed node, safe to remove."""
        online = {self.leader} | {r.name for r in self.replicas if not r.offline}
        return set(pods) <= online


def meta_group(targets: Sequence[tuple[str, int]]) -> MetaGroup | None:
    """The group as the node of `targets` that leads it reports it; None without a leader."""
    view = jsz_reader.leader_view(targets)
    if view is None:
        return None
    leader, answer = view
    replicas = answer.meta_replicas
    return MetaGroup(leader, answer.meta_size or len(replicas) + 1, replicas)


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
        "scale back up to bring them back, or remove them for good with `invoke up "
        "--forget-departed` (as the spec's system identity; those nodes cannot come back)"
    )


def departed_peers_warning(targets: Sequence[tuple[str, int]], names: ClusterNames) -> str | None:
    """`departed_warning` for the running cluster of `targets`."""
    group = meta_group(targets)
    if group is None:
        return None
    return departed_warning(group.size, group.departed(names), names.replicas)


def comeback_problem(layout: Layout, pods: Sequence[str]) -> str | None:
    """One sentence when the spec brings back a node removed from the meta group."""
    back = [pod for pod in pods if pod in meta_peers.forgotten(layout)]
    if not back:
        return None
    return (
        f"{', '.join(back)} {'was' if len(back) == 1 else 'were'} removed from JetStream's "
        "meta group by `invoke up --forget-departed`, and nats-server disables JetStream on a "
        "removed server that returns; keep replicas below that node, or start afresh "
        "without the data (`invoke down --volumes`, then `invoke up`)"
    )

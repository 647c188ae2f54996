"""Would a scale-down leave JetStream without a quorum?

Removing nodes does not remove their peers from the meta group: nats-server keeps counting
them (the group's size in `/raftz`), so the nodes left must still be a majority of it, or
JetStream stops ("has not established contact with a meta leader") while every endpoint
but JetStream looks fine. Such a scale-down is refused before anything changes.
"""

from __future__ import annotations


def quorum(peers: int) -> int:
    return peers // 2 + 1


def scale_down_problem(peers: int, replicas: int) -> str | None:
    """One sentence when `replicas` nodes cannot hold a quorum of a `peers`-peer meta group."""
    needed = quorum(peers)
    if replicas >= needed:
        return None
    return (
        f"scaling down to {replicas} node(s) would leave JetStream's meta group "
        f"({peers} peers) without its quorum of {needed}, and JetStream would stop; keep "
        f"replicas at {needed} or more, or start afresh without the data (`invoke down "
        "--volumes`, then `invoke up`)"
    )

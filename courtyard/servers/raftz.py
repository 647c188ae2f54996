"""One server's view of its JetStream meta group's election, from its `/raftz` endpoint.

`/raftz?group=_meta_` (the system account's groups by default) names the server's Raft
state (FOLLOWER, CANDIDATE, LEADER), its term, whom it voted for, the leader it knows and
whether the group ever had one. The fresh-bootstrap watch of `invoke up`
(courtyard/checks/first_round.py) reads it to tell, within milliseconds, a first election
that is lost from one that is merely slow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from courtyard.servers import monitor

META_GROUP = "_meta_"  # nats-server's name of the JetStream meta group (defaultMetaGroupName)
META_QUERY = f"/raftz?group={META_GROUP}"
# The watch asks every few milliseconds while an election is due; a node that does not
# answer this soon counts as "no answer yet".
TIMEOUT = 0.5


@dataclass(frozen=True)
class MetaVote:
    """What one server says of the meta group's election."""

    state: str  # FOLLOWER, CANDIDATE, LEADER, or "" before the group exists
    term: int
    voted_for: str
    leader: str
    ever_had_leader: bool
    stored: int  # the index of its last log entry: 0 while nothing was ever stored
    peers: int = 0  # the group's size: every peer it counts, offline ones included

    @property
    def answered(self) -> bool:
        return bool(self.state)

    @property
    def candidate(self) -> bool:
        return self.state == "CANDIDATE"

    @property
    def knows_leader(self) -> bool:
        return self.state == "LEADER" or bool(self.leader)


NO_ANSWER = MetaVote("", 0, "", "", False, 0)


def parse(body: Any) -> MetaVote:
    """The meta group's entry of a `/raftz` answer (account → group → state); anything else,
    such as the 404 text a server gives before JetStream started, reads as NO_ANSWER."""
    if not isinstance(body, dict):
        return NO_ANSWER
    for groups in body.values():
        group = groups.get(META_GROUP) if isinstance(groups, dict) else None
        if isinstance(group, dict):
            return MetaVote(
                state=str(group.get("state") or ""),
                term=_count(group.get("term")),
                voted_for=str(group.get("voted_for") or ""),
                leader=str(group.get("leader") or ""),
                ever_had_leader=bool(group.get("ever_had_leader")),
                stored=_count(group.get("pindex")),
                peers=_count(group.get("size")),
            )
    return NO_ANSWER


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def meta_vote(port: int) -> MetaVote:
    """Ask the node whose monitor port is 127.0.0.1:`port`."""
    reply = monitor.get(port, META_QUERY, timeout=TIMEOUT)
    return parse(reply.body) if reply.status == 200 else NO_ANSWER

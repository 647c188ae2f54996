"""Is a fresh cluster's first meta-leader election won, lost, or still open?

nats-server (2.14, raft.go) elects a fresh meta group's first leader only with the vote of
every node, because each node's log is empty ("empty votes" count only when all have
answered). Each node campaigns 100-800 ms after it starts. The round is lost when two nodes
campaign in the same term (each voted for itself, so neither can collect every vote) or when
a candidate's request never reaches a peer; the next round then waits a whole election
timeout, 4-9 s. `judge` tells a lost round from its nodes' `/raftz` answers the moment it is
lost, so that `invoke up` can start the nodes again on their emptied new volumes instead of
waiting; `watch` polls until won or lost.

A round is only ever called lost on a group that provably holds nothing: every node
answered, none ever had a leader, none stored an entry. Anything else is "open", and `up`
simply waits as before.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from courtyard.core.polling import WaitTimeout, poll
from courtyard.servers.raftz import NO_ANSWER, MetaVote, meta_vote

WON, LOST, OPEN = "won", "lost", "open"
# The poll is light on purpose: the servers need both cores while they mesh and vote.
INTERVAL = 0.02  # one node asked per poll
# Campaigns start within 0.8 s of a server's start; by this time the round is decided.
WATCH_TIMEOUT = 3.0
# nats-server's shortest election timeout (raft.go minElectionTimeoutDefault): after a lost
# round, the next election starts no sooner than this.
NEXT_ELECTION_AFTER = 4.0
# A lone candidate that every other node voted for wins within milliseconds; one still
# waiting after this long never got their answers and will wait out its election timeout.
STUCK_AFTER = 0.5


@dataclass(frozen=True)
class Verdict:
    outcome: str  # WON, LOST or OPEN
    reason: str = ""
    leader: str = ""

    @property
    def lost(self) -> bool:
        return self.outcome == LOST


def judge(votes: Mapping[str, MetaVote], stuck: Sequence[str] = ()) -> Verdict:
    """The first round's outcome from each node's view (node name → MetaVote). `stuck` names
    candidates already seen waiting, with every other node's vote, for STUCK_AFTER."""
    if any(vote.knows_leader for vote in votes.values()):
        # Followers name the leader by its Raft id; the leader itself says LEADER.
        named = [name for name, vote in votes.items() if vote.state == "LEADER"]
        return Verdict(WON, leader=named[0] if named else "")
    if not votes or not all(vote.answered for vote in votes.values()):
        return Verdict(OPEN, "not every node answers yet")
    if any(vote.ever_had_leader or vote.stored for vote in votes.values()):
        return Verdict(OPEN, "the meta group already holds state")
    by_term: dict[int, list[str]] = {}
    for name, vote in sorted(votes.items()):
        if vote.candidate:
            by_term.setdefault(vote.term, []).append(name)
    for term, candidates in sorted(by_term.items()):
        if len(candidates) > 1:
            return Verdict(
                LOST,
                f"{' and '.join(candidates)} campaigned in the same term ({term}), so neither "
                "could collect every vote",
            )
    if stuck:
        return Verdict(LOST, f"the votes for {stuck[0]} did not reach it")
    return Verdict(OPEN, "the first campaign is still under way")


def lone_candidate(votes: Mapping[str, MetaVote]) -> str:
    """The single candidate every other node voted for in its term, else ""."""
    candidates = [name for name, vote in votes.items() if vote.candidate]
    if len(candidates) != 1:
        return ""
    term = votes[candidates[0]].term
    others = [vote for name, vote in votes.items() if name != candidates[0]]
    # A vote names the candidate's Raft id, which only its own answer can tell: any vote in
    # the same term by a follower counts, since there is no other candidate to vote for.
    voted = all(vote.term == term and vote.voted_for and not vote.candidate for vote in others)
    return candidates[0] if voted else ""


def watch(
    targets: Sequence[tuple[str, int]],
    timeout: float = WATCH_TIMEOUT,
    ask: Callable[[int], MetaVote] = meta_vote,
) -> Verdict:
    """Poll the (node name, monitor host port) targets until the first round is won or lost;
    OPEN when neither is clear within `timeout` (the readiness wait takes it from there).

    One node is asked per poll, in turn, so the load on the servers does not grow with the
    cluster. That is sound because every state the verdict rests on holds once reached: a
    candidate of a lost round stays one until its election timeout, a leader stays leader.
    """
    views: dict[str, MetaVote] = {name: NO_ANSWER for name, _ in targets}
    turn = itertools.cycle(targets)
    seen_waiting: dict[str, float] = {}
    last = [Verdict(OPEN, "no answer yet")]

    def decided() -> Verdict:
        name, port = next(turn)
        views[name] = ask(port)
        lone = lone_candidate(views)
        since = seen_waiting.setdefault(lone, time.monotonic()) if lone else None
        stuck = [lone] if since is not None and time.monotonic() - since >= STUCK_AFTER else []
        last[0] = judge(views, stuck)
        return last[0]

    try:
        return poll(
            decided,
            what="the first meta-leader election",
            timeout=timeout,
            interval=INTERVAL,
            done=lambda verdict: verdict.outcome != OPEN,
        )
    except WaitTimeout:
        return last[0]

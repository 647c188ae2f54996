"""The verdict on a fresh cluster's first meta-leader election, from canned /raftz answers."""

from __future__ import annotations

from courtyard.checks.first_round import LOST, OPEN, WON, judge, lone_candidate, watch
from courtyard.servers.raftz import NO_ANSWER, MetaVote, parse


def vote(state="FOLLOWER", term=1, voted_for="", leader="", ever=False, stored=0) -> MetaVote:
    return MetaVote(state, term, voted_for, leader, ever, stored)


def test_a_raftz_answer_reads_as_the_meta_groups_view():
    body = {
        "$SYS": {
            "_meta_": {
                "state": "CANDIDATE",
                "term": 1,
                "voted_for": "abc",
                "ever_had_leader": False,
                "pindex": 0,
            }
        }
    }
    assert parse(body) == MetaVote("CANDIDATE", 1, "abc", "", False, 0)
    assert parse("No Raft nodes registered") == NO_ANSWER
    assert parse({"$SYS": {"S-R3F-x": {}}}) == NO_ANSWER
    assert parse({"$SYS": {"_meta_": {"state": "FOLLOWER", "term": True, "pindex": -4}}}) == (
        MetaVote("FOLLOWER", 0, "", "", False, 0)
    )


def test_two_candidates_in_one_term_lose_the_round():
    verdict = judge({"n0": vote("CANDIDATE"), "n1": vote(voted_for="x"), "n2": vote("CANDIDATE")})
    assert verdict.outcome == LOST
    assert "n0 and n2 campaigned in the same term (1)" in verdict.reason


def test_a_leader_wins_and_is_named_by_its_own_answer():
    verdict = judge({"n0": vote(leader="id1"), "n1": vote("LEADER"), "n2": NO_ANSWER})
    assert (verdict.outcome, verdict.leader) == (WON, "n1")
    assert judge({"n0": vote(leader="id1"), "n1": NO_ANSWER}).outcome == WON


def test_a_round_is_never_lost_while_a_node_is_silent_or_anything_is_stored():
    crossed = {"n0": vote("CANDIDATE"), "n1": vote("CANDIDATE")}
    assert judge({**crossed, "n2": NO_ANSWER}).outcome == OPEN
    assert judge({**crossed, "n2": vote(stored=3)}).outcome == OPEN
    assert judge({**crossed, "n2": vote(ever=True)}).outcome == OPEN
    assert judge({}).outcome == OPEN


def test_candidates_of_different_terms_or_one_candidate_keep_the_round_open():
    assert judge({"n0": vote("CANDIDATE", 1), "n1": vote("CANDIDATE", 2)}).outcome == OPEN
    assert judge({"n0": vote("CANDIDATE"), "n1": vote(term=0)}).outcome == OPEN


def test_a_lone_candidate_with_every_vote_lost_only_once_seen_stuck():
    votes = {"n0": vote("CANDIDATE"), "n1": vote(voted_for="n0id"), "n2": vote(voted_for="n0id")}
    assert lone_candidate(votes) == "n0"
    assert judge(votes).outcome == OPEN
    stuck = judge(votes, stuck=["n0"])
    assert stuck.outcome == LOST and "the votes for n0 did not reach it" in stuck.reason
    assert lone_candidate({**votes, "n2": vote(term=0)}) == ""


def test_the_watch_asks_one_node_a_poll_and_returns_once_the_round_is_decided():
    answers = {
        1: iter([NO_ANSWER, vote("CANDIDATE")]),
        2: iter([vote(term=0), vote("CANDIDATE")]),
    }
    asked: list[int] = []

    def ask(port: int) -> MetaVote:
        asked.append(port)
        return next(answers[port])

    verdict = watch([("n0", 1), ("n1", 2)], timeout=5, ask=ask)
    assert verdict.outcome == LOST
    assert asked == [1, 2, 1, 2]


def test_the_watch_gives_up_open_when_nothing_is_decided():
    assert watch([("n0", 1)], timeout=0.1, ask=lambda port: NO_ANSWER).outcome == OPEN

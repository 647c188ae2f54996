"""Reading a full JetStream store from a node's /jsz answer."""

from __future__ import annotations

from courtyard.checks.resources import account_limit_warnings, is_store_full, store_problems
from courtyard.project.limits import AccountLimits
from courtyard.servers.jsz import Jsz

MiB = 2**20


def jsz(storage: int, memory: int = 0) -> dict:
    return {
        "config": {"max_storage": 8 * MiB, "max_memory": 4 * MiB},
        "storage": storage,
        "memory": memory,
        "account_details": [
            {
                "stream_detail": [
                    {"name": "BIG", "config": {"storage": "file"}, "state": {"bytes": 6 * MiB}},
                    {"name": "SMALL", "config": {"storage": "file"}, "state": {"bytes": 2 * MiB}},
                    {"name": "MEM", "config": {"storage": "memory"}, "state": {"bytes": MiB}},
                ]
            }
        ],
    }


def test_a_store_with_room_is_no_problem():
    assert store_problems(jsz(4 * MiB)) == []
    assert store_problems("no answer") == []


def test_a_full_file_store_names_limit_streams_and_the_spec_key():
    [problem] = store_problems(jsz(8 * MiB))
    assert problem.startswith("JetStream file store full (8.0 MiB of 8.0 MiB)")
    assert "largest streams: BIG (6.0 MiB), SMALL (2.0 MiB)" in problem
    assert "MEM" not in problem and "raise jetstream.file_store" in problem
    assert is_store_full(problem)


def test_a_full_memory_store_is_told_apart():
    [problem] = store_problems(jsz(MiB, memory=4 * MiB))
    assert problem.startswith("JetStream memory store full") and "MEM (1.0 MiB)" in problem
    assert "jetstream.memory_store" in problem


def _account_jsz(account: str, *streams: tuple[str, str, int, int, int]) -> Jsz:
    """A node's /jsz with `account`'s streams: (name, storage, replicas, max_bytes, bytes)."""
    return Jsz.parse(
        {
            "account_details": [
                {
                    "name": account,
                    "stream_detail": [
                        {
                            "name": name,
                            "config": {
                                "storage": storage,
                                "num_replicas": replicas,
                                "max_bytes": max_bytes,
                            },
                            "state": {"bytes": held},
                        }
                        for name, storage, replicas, max_bytes, held in streams
                    ],
                }
            ]
        }
    )


LIMITS = {
    "orders": AccountLimits("orders", memory=100 * MiB, file=300 * MiB, streams=3),
    "APP": AccountLimits("APP", memory=100 * MiB, file=300 * MiB),
}


def test_a_team_that_reserved_its_share_is_named_with_its_limit_and_streams():
    # Seen by two nodes (an R3 stream is listed by each of its servers): counted once.
    answer = _account_jsz("orders", ("BIG", "file", 3, 100 * MiB, 10))
    [warning] = account_limit_warnings(LIMITS, [answer, answer])
    assert warning.startswith("team orders is at its file limit: 300Mi of 300Mi taken (BIG")


def test_a_stream_without_max_bytes_counts_what_it_holds_on_every_replica():
    answer = _account_jsz("orders", ("MEM", "memory", 1, -1, 96 * MiB))
    assert account_limit_warnings(LIMITS, [answer]) == [
        "team orders is at its memory limit: 96Mi of 100Mi taken (MEM (96Mi), every replica "
        "counted); its next stream or message is refused, the other accounts are not affected"
    ]
    # Below 95% is not at the limit.
    assert (
        account_limit_warnings(LIMITS, [_account_jsz("orders", ("M", "memory", 1, -1, MiB))]) == []
    )


def test_a_team_with_as_many_streams_as_its_limit_is_named_and_other_accounts_are_not():
    answer = _account_jsz("orders", *((f"S{i}", "file", 1, -1, 1) for i in range(3)))
    assert account_limit_warnings(LIMITS, [answer]) == [
        "team orders is at its limit of 3 streams; its next stream is refused, the other "
        "accounts are not affected"
    ]
    admins = _account_jsz("APP", *((f"S{i}", "file", 1, -1, 1) for i in range(30)))
    assert account_limit_warnings(LIMITS, [admins]) == []  # the admins have no stream limit

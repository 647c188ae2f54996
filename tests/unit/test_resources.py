"""Reading a full JetStream store from a node's /jsz answer."""

from __future__ import annotations

from courtyard.checks.resources import is_store_full, store_problems

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

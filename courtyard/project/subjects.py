"""NATS subjects and JetStream names as the server accepts them, checked before they reach
a config: one sentence for what is wrong with each."""

from __future__ import annotations

import re

_JETSTREAM_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_SPACE = re.compile(r"\s")


def subject_problem(subject: str) -> str | None:
    """Why `subject` is not a NATS subject (or wildcard pattern); None when it is one."""
    if not subject or _SPACE.search(subject):
        return "is not a NATS subject (dot-separated tokens, no spaces)"
    tokens = subject.split(".")
    if "" in tokens:
        return "is not a NATS subject (it has an empty token: a leading, trailing or double dot)"
    for position, token in enumerate(tokens):
        if token != "*" and token != ">" and ("*" in token or ">" in token):
            return f"is not a NATS subject ({token!r}: wildcards stand alone as a token)"
        if token == ">" and position != len(tokens) - 1:
            return "is not a NATS subject ('>' may only be the last token)"
    return None


def team_subject_problem(subject: str) -> str | None:
    """Why `subject` cannot be in a restricted identity's publish or subscribe list; None
    when it can. Those lists are the bridges between the team's account and the shared one,
    so they hold application subjects only: a leading wildcard, `$...` or `_...` would carry
    the servers' own subjects ($JS.API, $SYS, _INBOX, _R_) across the boundary."""
    problem = subject_problem(subject)
    if problem:
        return problem
    first = subject.split(".", 1)[0]
    if first in ("*", ">"):
        return (
            "starts with a wildcard, which would bridge the servers' own subjects ($JS.API, "
            "$SYS, _INBOX) between the team's account and the shared one; start with a "
            "literal token"
        )
    if first.startswith(("$", "_")):
        return (
            "is a server subject ($... or _...): a team's JetStream API and replies stay in "
            "its own account, so list application subjects only"
        )
    return None


def jetstream_name_problem(name: str) -> str | None:
    """Why `name` cannot name a stream or bucket; None when it can."""
    if not _JETSTREAM_NAME.match(name):
        return "is not a stream or bucket name (letters, digits, '-' and '_' only)"
    return None


def subject_matches(pattern: str, subject: str) -> bool:
    """Whether the literal `subject` matches `pattern` (`*` one token, `>` the rest)."""
    wanted, given = pattern.split("."), subject.split(".")
    for position, token in enumerate(wanted):
        if token == ">":
            return len(given) > position
        if position >= len(given) or (token != "*" and token != given[position]):
            return False
    return len(given) == len(wanted)


def covers(wide: str, narrow: str) -> bool:
    """Whether every subject the pattern `narrow` matches is matched by `wide`."""
    wanted, given = wide.split("."), narrow.split(".")
    for position, token in enumerate(wanted):
        if token == ">":
            return len(given) > position
        if position >= len(given) or given[position] == ">":
            return False
        if token != "*" and (given[position] == "*" or token != given[position]):
            return False
    return len(given) == len(wanted)


def widest(patterns: tuple[str, ...] | list[str]) -> list[str]:
    """The patterns no other one in the list covers, in their order: one import each, so a
    message never crosses twice."""
    return [
        pattern
        for i, pattern in enumerate(patterns)
        if not any(
            covers(other, pattern) and (not covers(pattern, other) or j < i)
            for j, other in enumerate(patterns)
            if j != i
        )
    ]


def example_subject(pattern: str, token: str) -> str:
    """A literal subject the pattern matches: each wildcard becomes `token`."""
    return ".".join(token if part in ("*", ">") else part for part in pattern.split("."))


def common_subject(a: str, b: str, token: str = "x") -> str | None:
    """A literal subject both patterns match (each wildcard becomes `token`), or None when
    they match none in common."""
    first, second = a.split("."), b.split(".")
    common: list[str] = []
    for position in range(max(len(first), len(second))):
        x = first[position] if position < len(first) else None
        y = second[position] if position < len(second) else None
        if x == ">" or y == ">":
            other = y if x == ">" else x
            if other is None:
                return None
            rest = (first if x != ">" else second)[position:]
            common += [token if part in ("*", ">") else part for part in rest]
            return ".".join(common)
        if x is None or y is None:
            return None
        if x != "*" and y != "*" and x != y:
            return None
        common.append(y if x == "*" else x)
    return ".".join(token if part == "*" else part for part in common)


def partial_overlap(patterns: list[str]) -> tuple[str, str, str] | None:
    """Two patterns of the list that share subjects while neither covers the other, with a
    subject both match; None when every pair is disjoint or one covers the other."""
    for i, first in enumerate(patterns):
        for second in patterns[i + 1 :]:
            if covers(first, second) or covers(second, first):
                continue
            shared = common_subject(first, second)
            if shared is not None:
                return first, second, shared
    return None

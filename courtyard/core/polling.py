"""The one way to wait: ask until the answer is good or a deadline passes, then say for what.

Every wait in Courtyard (readiness, stream creation, failover phases, smoke checks) goes
through `poll` or `poll_async`: a deadline, an interval, the exceptions that mean "not yet",
and a sentence naming what was awaited when it gives up. There are no fixed sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from courtyard.core.errors import CourtyardError

T = TypeVar("T")


class WaitTimeout(CourtyardError):
    """A wait gave up; `last` is the last answer (or exception) seen before the deadline."""

    def __init__(self, what: str, timeout: float, last: Any = None) -> None:
        reason = ""
        if isinstance(last, BaseException):
            reason = f" (last: {type(last).__name__}{f': {last}' if str(last) else ''})"
        super().__init__(f"gave up after {timeout:.0f}s waiting for {what}{reason}")
        self.what = what
        self.last = last


def _is_truthy(value: object) -> bool:
    return bool(value)


class _Deadline:
    """The clock of one wait: how long to pause after a "not yet", or give up naming why."""

    def __init__(self, what: str, timeout: float, interval: float) -> None:
        self.what, self.timeout, self.interval = what, timeout, interval
        self.ends = time.monotonic() + timeout

    def pause_after(self, answer: object) -> float:
        remaining = self.ends - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(self.what, self.timeout, answer)
        return min(self.interval, remaining)


def poll(
    ask: Callable[[], T],
    *,
    what: str,
    timeout: float,
    interval: float = 0.1,
    not_yet: tuple[type[BaseException], ...] = (),
    done: Callable[[T], bool] = _is_truthy,
) -> T:
    """Call `ask()` until `done(answer)`; return that answer.

    An exception listed in `not_yet` counts as "not yet"; any other propagates at once. At
    least one call is made; the last one happens at or after the deadline. Raises
    WaitTimeout naming `what`, with the last answer or exception in `.last`.
    """
    deadline = _Deadline(what, timeout, interval)
    while True:
        try:
            answer: Any = ask()
            if done(answer):
                return answer
        except not_yet as exc:
            answer = exc
        time.sleep(deadline.pause_after(answer))


async def poll_async(
    ask: Callable[[], Awaitable[T]],
    *,
    what: str,
    timeout: float,
    interval: float = 0.05,
    not_yet: tuple[type[BaseException], ...] = (),
    done: Callable[[T], bool] = _is_truthy,
) -> T:
    """`poll` for coroutines: await `ask()` until `done(answer)`, sleeping without blocking."""
    deadline = _Deadline(what, timeout, interval)
    while True:
        try:
            answer: Any = await ask()
            if done(answer):
                return answer
        except not_yet as exc:
            answer = exc
        await asyncio.sleep(deadline.pause_after(answer))


def any_answer(_: object) -> bool:
    """`done` for retries: any answer that did not raise a `not_yet` exception will do."""
    return True

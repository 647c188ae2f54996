"""What every check shares: its result, the exception for a misbehaving cluster, and the
register of what it created (streams, buckets), so one cleanup removes it all."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


class CheckFailed(Exception):
    """A check saw the cluster misbehave; the message says how."""


@dataclass
class CheckResult:
    name: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class Created:
    """Streams and buckets the checks made; every check registers what it creates here."""

    streams: list[str] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)

    def stream(self, name: str) -> str:
        self.streams.append(name)
        return name

    def bucket(self, name: str) -> str:
        self.buckets.append(name)
        return name


async def run_check(name: str, body: Callable[[], Awaitable[str]]) -> CheckResult:
    """Run one check: its detail line when it passes, the reason when it fails.

    Any client error fails this check only, not the run it belongs to.
    """
    started = time.monotonic()
    try:
        detail, ok = await body(), True
    except CheckFailed as exc:
        detail, ok = str(exc), False
    except Exception as exc:
        detail, ok = f"{type(exc).__name__}: {exc}".strip(": "), False
    return CheckResult(name, ok, time.monotonic() - started, detail)

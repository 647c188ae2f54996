"""Where a task's steps report: one line per step with its duration, warnings, plain lines.

`Reporter` prints; `Recorder` keeps the lines instead (the pytest plugin, tests and
benchmarks). Every layer that runs steps takes one, as kind's actions take its `Status`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

TICK, CROSS, DOT = "✓", "✗", "•"


class Reporter:
    """Where a command's steps report, carried in its context (as kind's `Status`): one line
    per step with its duration, warnings, plain lines. This one prints (warnings to stderr);
    a `Recorder` keeps the lines instead, for the pytest plugin, tests and benchmarks."""

    def emit(self, line: str, *, warning: bool = False) -> None:
        print(line, file=sys.stderr if warning else sys.stdout, flush=True)

    @contextmanager
    def step(self, title: str) -> Iterator[dict[str, str]]:
        """Report ` ✓ title (0.42s)` when the block ends, ` ✗ title` when it raises.

        The block may set `info["detail"]` to add a short note after the title.
        """
        info: dict[str, str] = {}
        started = time.monotonic()
        try:
            yield info
        except BaseException:
            self.emit(f" {CROSS} {title} ({time.monotonic() - started:.2f}s)")
            raise
        detail = f": {info['detail']}" if info.get("detail") else ""
        self.emit(f" {TICK} {title}{detail} ({time.monotonic() - started:.2f}s)")

    def warn(self, message: str) -> None:
        self.emit(f" ! {message}", warning=True)

    def line(self, text: str) -> None:
        self.emit(text)


class Recorder(Reporter):
    """A Reporter that keeps every line, warnings included, in the order reported."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def emit(self, line: str, *, warning: bool = False) -> None:
        self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(f"{line}\n" for line in self.lines)


# Tasks without a context of their own report here.
PRINTER = Reporter()

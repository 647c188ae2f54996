"""Output for people: one line per step with its duration, tables, and errors without tracebacks."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

TICK, CROSS, DOT = "✓", "✗", "•"


@contextmanager
def step(title: str) -> Iterator[dict[str, str]]:
    """Print ` ✓ title (0.42s)` when the block ends, ` ✗ title` when it raises.

    The block may set `info["detail"]` to add a short note after the title.
    """
    info: dict[str, str] = {}
    started = time.monotonic()
    try:
        yield info
    except BaseException:
        print(f" {CROSS} {title} ({time.monotonic() - started:.2f}s)", flush=True)
        raise
    detail = f": {info['detail']}" if info.get("detail") else ""
    print(f" {TICK} {title}{detail} ({time.monotonic() - started:.2f}s)", flush=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def warn(message: str) -> None:
    print(f" ! {message}", file=sys.stderr, flush=True)

"""Work that a Ctrl-C must not cut in half: the interrupt waits until it is done.

Removing a throw-away cluster is several engine calls (containers, network, volumes) and a
folder holding a CA key; a SIGINT between two of them left the rest behind. Inside
`deferred_interrupt()` a SIGINT is noted instead, and raised as KeyboardInterrupt once the
block has finished, so the caller still stops as the user asked.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold SIGINT for the block (main thread only; elsewhere Python delivers no signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous != signal.SIG_IGN:
                raise KeyboardInterrupt

"""Work that a Ctrl-C (or a SIGTERM) must not cut in half: the interrupt waits until it is
done.

Removing a throw-away cluster is several engine calls (containers, network, volumes) and a
folder holding a CA key; a SIGINT between two of them left the rest behind. Healing a
partition is several iptables calls; a second Ctrl-C among them left the node cut off.
Inside `deferred_interrupt()` a SIGINT or SIGTERM is noted instead, and delivered once the
block has finished (as KeyboardInterrupt, or to the handler that was there), so the caller
still stops as the user asked.

`terminate_as_interrupt()` makes SIGTERM (`timeout`, `kill`, a CI runner) stop a task the
way Ctrl-C does, so the task's own cleanup runs instead of the process just ending.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

HELD = (signal.SIGINT, signal.SIGTERM)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt for the block (main thread only), unless a handler
    other than the default one is already in place."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the block (main thread only; elsewhere Python delivers no
    signals); the first one noted is delivered when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {signum: signal.getsignal(signum) for signum in HELD}
    for signum in HELD:
        signal.signal(signum, lambda number, frame: received.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            _deliver(received[0], previous[received[0]])


def _deliver(signum: int, handler: object) -> None:
    """What `signum` would have done without the hold."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_IGN:
        return
    elif signum == signal.SIGINT:
        raise KeyboardInterrupt
    else:
        signal.raise_signal(signum)  # the default action: SIGTERM ends the process

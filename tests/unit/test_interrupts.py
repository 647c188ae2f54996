"""A Ctrl-C inside `deferred_interrupt` waits for the block, then stops the caller."""

import os
import signal

import pytest

from courtyard.core.interrupts import deferred_interrupt, terminate_as_interrupt


def test_a_ctrl_c_in_the_block_is_raised_once_the_block_has_finished():
    done = []
    with pytest.raises(KeyboardInterrupt), deferred_interrupt():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("the rest of the removal")
    assert done == ["the rest of the removal"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_without_a_ctrl_c_nothing_is_raised_and_the_handler_is_restored():
    with deferred_interrupt():
        pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_sigterm_in_the_block_is_delivered_once_the_block_has_finished():
    done = []
    with pytest.raises(KeyboardInterrupt), terminate_as_interrupt(), deferred_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)  # a second signal while held changes nothing
        done.append("the rest of the heal")
    assert done == ["the rest of the heal"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sigterm_stops_a_task_as_ctrl_c_does():
    with pytest.raises(KeyboardInterrupt), terminate_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        signal.pause()  # never returns without the signal
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

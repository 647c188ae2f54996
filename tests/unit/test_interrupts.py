"""A Ctrl-C inside `deferred_interrupt` waits for the block, then stops the caller."""

import os
import signal

import pytest

from courtyard.core.interrupts import deferred_interrupt


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

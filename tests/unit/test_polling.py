"""The one way to wait: answers, "not yet" exceptions, deadlines and what a give-up says."""

from __future__ import annotations

import asyncio

import pytest

from courtyard.core.errors import CourtyardError
from courtyard.core.polling import WaitTimeout, any_answer, poll, poll_async


def answers(*values):
    """A callable returning (or raising) the given values in turn, counting its calls."""
    it = iter(values)

    def ask():
        ask.calls += 1
        value = next(it)
        if isinstance(value, BaseException):
            raise value
        return value

    ask.calls = 0
    return ask


def test_returns_the_first_good_answer():
    ask = answers(0, None, "", 3, 4)
    assert poll(ask, what="x", timeout=5, interval=0) == 3
    assert ask.calls == 4


def test_not_yet_exceptions_are_retried_and_others_raise_at_once():
    ask = answers(ConnectionError("refused"), "up")
    assert poll(ask, what="x", timeout=5, interval=0, not_yet=(ConnectionError,)) == "up"
    with pytest.raises(KeyError):
        poll(
            answers(KeyError("boom"), "up"),
            what="x",
            timeout=5,
            interval=0,
            not_yet=(ConnectionError,),
        )


def test_a_custom_verdict_and_any_answer():
    assert poll(answers(1, 2, 3), what="x", timeout=5, interval=0, done=lambda n: n > 2) == 3
    assert poll(answers(None), what="x", timeout=5, done=any_answer) is None


def test_giving_up_names_what_it_waited_for_and_keeps_the_last_answer():
    with pytest.raises(WaitTimeout) as err:
        poll(
            lambda: {"status": "starting"},
            what="node n-0 to be healthy",
            timeout=0.05,
            interval=0.01,
            done=lambda reply: reply["status"] == "ok",
        )
    assert str(err.value) == "gave up after 0s waiting for node n-0 to be healthy"
    assert err.value.last == {"status": "starting"}
    assert isinstance(err.value, CourtyardError)  # a user sees one sentence, no traceback


def test_a_give_up_after_exceptions_says_the_last_one():
    with pytest.raises(
        WaitTimeout,
        match=r"waiting for the stream to answer \(last: "
        r"ConnectionError: refused\)",
    ):
        poll(
            answers(*[ConnectionError("refused")] * 100),
            what="the stream to answer",
            timeout=0.05,
            interval=0.01,
            not_yet=(ConnectionError,),
        )


def test_asks_at_least_once_even_with_no_time():
    assert poll(answers("now"), what="x", timeout=0) == "now"


def test_the_async_flavour_behaves_the_same():
    async def main():
        ask = answers(ConnectionError(), 0, 7)

        async def ask_async():
            return ask()

        got = await poll_async(
            ask_async, what="x", timeout=5, interval=0, not_yet=(ConnectionError,)
        )
        with pytest.raises(WaitTimeout, match="waiting for never"):
            await poll_async(
                lambda: asyncio.sleep(0, result=False), what="never", timeout=0.03, interval=0.01
            )
        return got, ask.calls

    assert asyncio.run(main()) == (7, 3)

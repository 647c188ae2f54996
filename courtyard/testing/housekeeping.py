"""Work between tests on an event loop of its own: deleting a finished test's streams.

Tests run their coroutines on whatever loop they like (`asyncio.run`, pytest-asyncio), and a
nats-py client belongs to the loop it was made on. The housekeeper keeps one admin
connection on a private loop in a daemon thread, so cleanup after each test costs a few
requests instead of a new TLS connection.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.errors import Error as NatsError

from courtyard.core.errors import CourtyardError

T = TypeVar("T")
REQUEST_TIMEOUT = 5.0


class Housekeeper:
    def __init__(self, connect: Callable[[], Awaitable[Client]]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="courtyard-housekeeper", daemon=True
        )
        self._thread.start()
        try:
            self._nc: Client = self.run(connect())
        except BaseException:
            self._stop_loop()
            raise

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def delete_streams(self, owned: Callable[[str], bool]) -> list[str]:
        """Delete every stream whose name `owned` accepts; the names deleted."""
        try:
            return self.run(self._delete_streams(owned))
        except (NatsError, TimeoutError, OSError) as exc:
            raise CourtyardError(
                f"could not delete the test's streams ({type(exc).__name__}: {exc}); is the "
                "cluster still up? `invoke status` shows it"
            ) from None

    def existing_streams(self, names: tuple[str, ...] | list[str]) -> list[str]:
        """Which of the named streams exist (for an identity that may not list streams)."""
        return self.run(self._existing(names))

    def delete_named_streams(self, names: tuple[str, ...] | list[str]) -> list[str]:
        """Delete the named streams that exist; the names deleted."""
        return self.run(self._delete_named(names))

    async def _existing(self, names) -> list[str]:
        answers = [await self._request(f"$JS.API.STREAM.INFO.{name}") for name in names]
        return [name for name, answer in zip(names, answers, strict=True) if "error" not in answer]

    async def _delete_named(self, names) -> list[str]:
        found = await self._existing(names)
        await asyncio.gather(*(self._request(f"$JS.API.STREAM.DELETE.{n}") for n in found))
        return found

    async def _request(self, subject: str, body: dict | None = None) -> dict:
        payload = json.dumps(body).encode() if body else b""
        reply = await self._nc.request(subject, payload, timeout=REQUEST_TIMEOUT)
        answer = json.loads(reply.data or b"{}")
        if "error" in answer and answer["error"].get("err_code") != 10059:  # stream not found
            raise CourtyardError(f"JetStream refused {subject}: {answer['error']}")
        return answer

    async def _stream_names(self) -> list[str]:
        names: list[str] = []
        while True:
            page = await self._request("$JS.API.STREAM.NAMES", {"offset": len(names)})
            streams = page.get("streams") or []
            names += streams
            if not streams or len(names) >= page.get("total", 0):
                return names

    async def _delete_streams(self, owned: Callable[[str], bool]) -> list[str]:
        doomed = [name for name in await self._stream_names() if owned(name)]
        await asyncio.gather(*(self._request(f"$JS.API.STREAM.DELETE.{name}") for name in doomed))
        return doomed

    def close(self) -> None:
        try:
            self.run(self._nc.close(), timeout=10)
        except (NatsError, TimeoutError, OSError):
            pass  # the cluster may already be gone; the thread ends either way
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

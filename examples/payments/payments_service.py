"""A payments service, a team of its own: it answers the order service's `payments.charge`
requests with the charge it made, announces each on `payments.settled.<order id>`, and keeps
a copy of every `orders.created.>` event in its own stream, PAYMENTS, to reconcile against.

In production it logs in as `payments` (its certificate): it may publish `payments.>`,
subscribe to `payments.>` and `orders.created.>`, and use its stream, and nothing else. The
tests act as that identity, so a service that needs more fails there first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError

SETUP_ATTEMPTS = 50


@dataclass(frozen=True)
class PaymentNames:
    charge: str = "payments.charge"
    settled: str = "payments.settled"
    stream: str = "PAYMENTS"
    copied: str = "orders.created.>"  # another team's events, kept to reconcile against
    queue: str = "payments"


class PaymentService:
    def __init__(self, nc: Client, names: PaymentNames = PaymentNames()) -> None:
        self.nc, self.names = nc, names
        self.js = nc.jetstream()
        self.charged: list[str] = []

    async def setup(self) -> None:
        """The stream of copies (three replicas), retried while the cluster elects leaders."""
        for attempt in range(SETUP_ATTEMPTS):
            try:
                await self.js.add_stream(
                    name=self.names.stream,
                    subjects=[self.names.copied, f"{self.names.settled}.>"],
                    num_replicas=3,
                )
                return
            except (NatsError, TimeoutError):
                if attempt == SETUP_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.2)

    async def run(self, stopping: asyncio.Event) -> None:
        subscription = await self.nc.subscribe(
            self.names.charge, queue=self.names.queue, cb=self._charge
        )
        await self.nc.flush()
        try:
            await stopping.wait()
        finally:
            with contextlib.suppress(NatsError):
                await subscription.unsubscribe()

    async def _charge(self, msg: Msg) -> None:
        try:
            request = json.loads(msg.data)
            order, cents = str(request["order"]), int(request["total_cents"])
        except (ValueError, KeyError, TypeError):
            await msg.respond(
                json.dumps({"error": "a charge needs an order and total_cents"}).encode()
            )
            return
        if cents <= 0:
            await msg.respond(json.dumps({"order": order, "error": "nothing to charge"}).encode())
            return
        payment = {"order": order, "charged_cents": cents, "payment": f"pay-{order}"}
        self.charged.append(order)
        await msg.respond(json.dumps(payment).encode())
        await self.nc.publish(f"{self.names.settled}.{order}", json.dumps(payment).encode())

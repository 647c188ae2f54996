"""An order-processing service, as Skunkwolf's microservices are written: nats-py, JetStream.

Orders arrive on `<created>.<order id>` as JSON, `{"items": [{"sku": "A1", "qty": 2,
"price_cents": 350}]}`, and are kept in a replicated stream. The service prices each order and
publishes `{"order": id, "total_cents": n}` on `<processed>.<order id>`, or `{"order": id,
"reason": "..."}` on `<rejected>.<order id>` for an order it cannot price; then it
acknowledges the order, so a restart never drops one; an order delivered again after a lost
acknowledgement publishes its result with the same message id, so no order is priced twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js.api import StorageType

PUBLISH_ATTEMPTS = 50


class InvalidOrder(ValueError):
    """An order the service cannot price; the reason is published with the rejection."""


@dataclass(frozen=True)
class OrderNames:
    """Where the service reads and writes. Tests pass names inside their own namespace."""

    stream: str = "ORDERS"
    created: str = "orders.created"
    processed: str = "orders.processed"
    rejected: str = "orders.rejected"
    consumer: str = "order-pricer"


def total_cents(order: object) -> int:
    """The order's total; InvalidOrder when it has no items or an item is malformed."""
    items = order.get("items") if isinstance(order, dict) else None
    if not isinstance(items, list) or not items:
        raise InvalidOrder("an order needs a non-empty list of items")
    total = 0
    for item in items:
        qty = item.get("qty") if isinstance(item, dict) else None
        price = item.get("price_cents") if isinstance(item, dict) else None
        if not isinstance(qty, int) or qty <= 0:
            raise InvalidOrder(f"item {item!r} needs a positive integer qty")
        if not isinstance(price, int) or price < 0:
            raise InvalidOrder(f"item {item!r} needs a price_cents of 0 or more")
        total += qty * price
    return total


class OrderService:
    def __init__(self, nc: Client, names: OrderNames | None = None) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.names = names or OrderNames()

    async def setup(self) -> None:
        """The stream (three replicas on file, as in production) and the durable consumer."""
        names = self.names
        await self.js.add_stream(
            name=names.stream,
            subjects=[f"{names.created}.>", f"{names.processed}.>", f"{names.rejected}.>"],
            num_replicas=3,
            storage=StorageType.FILE,
        )

    async def run(self, stopping: asyncio.Event) -> None:
        """Price orders until `stopping` is set; rides out node failures and elections."""
        names = self.names
        subscription = None
        while subscription is None and not stopping.is_set():
            try:  # the meta leader creates the consumer: asked again while it is elected
                subscription = await self.js.pull_subscribe(
                    f"{names.created}.>", durable=names.consumer, stream=names.stream
                )
            except (NatsError, TimeoutError):
                await asyncio.sleep(0.2)
        while subscription is not None and not stopping.is_set():
            try:
                batch = await subscription.fetch(10, timeout=0.5)
            except TimeoutError:
                continue  # nothing to do (or a consumer leader election): ask again
            except NatsError:
                await asyncio.sleep(0.2)  # the connection moves to another node
                continue
            for msg in batch:
                await self.handle(msg)

    async def handle(self, msg: Msg) -> None:
        order_id = msg.subject.rsplit(".", 1)[-1]
        try:
            result = {"order": order_id, "total_cents": total_cents(json.loads(msg.data))}
            subject = f"{self.names.processed}.{order_id}"
        except (InvalidOrder, json.JSONDecodeError) as exc:
            result = {"order": order_id, "reason": str(exc)}
            subject = f"{self.names.rejected}.{order_id}"
        # The result's message id is the order's: an order delivered again (its ack was lost
        # to a failover) is priced again, but the stream keeps its result once.
        priced = {"Nats-Msg-Id": f"result-{order_id}"}
        for _ in range(PUBLISH_ATTEMPTS):  # a leader election takes a few seconds at most
            try:
                await self.js.publish(subject, json.dumps(result).encode(), headers=priced)
                break
            except (NatsError, TimeoutError):
                await asyncio.sleep(0.2)
        else:
            return  # not acknowledged: JetStream delivers the order again later
        with contextlib.suppress(NatsError):  # a lost ack: delivered again, stored once
            await msg.ack()

"""The payments service against Courtyard's cluster, acting as the real identities: the
service logs in as `payments`, its caller as `orders`, each with its own certificate and
nothing beyond its entry in the spec (`courtyard_identity`), on nodes of their own.

Uses the fixtures of Courtyard's pytest plugin (installed with courtyard, no import needed).
Tests that act as identities take turns on the cluster, and the identities' streams are
deleted after each one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from nats.errors import Error as NatsError
from payments_service import PaymentNames, PaymentService

NAMES = PaymentNames()


@contextlib.asynccontextmanager
async def running_service(acting, nodes: list[int]):
    nc = await acting.connect(nodes=nodes)
    service = PaymentService(nc, NAMES)
    await service.setup()
    stopping = asyncio.Event()
    task = asyncio.create_task(service.run(stopping))
    try:
        yield service
    finally:
        stopping.set()
        await task
        await nc.close()


async def request_until_served(nc, subject: str, body: dict, timeout: float = 20) -> dict:
    """A request, asked again while the service's subscription crosses to this node."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            answer = await nc.request(subject, json.dumps(body).encode(), timeout=1)
            return json.loads(answer.data)
        except (NatsError, TimeoutError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


def test_orders_request_is_answered_by_payments_and_the_settlement_reaches_orders(
    courtyard_identity,
):
    orders, payments = courtyard_identity("orders"), courtyard_identity("payments")

    async def main():
        async with running_service(payments, nodes=[1]):
            caller = await orders.connect(nodes=[0])
            listener = await orders.connect(nodes=[2])
            settled = []

            async def on_settled(msg):
                settled.append(json.loads(msg.data))

            await listener.subscribe(f"{NAMES.settled}.>", cb=on_settled)
            await listener.flush()
            answer = await request_until_served(
                caller, NAMES.charge, {"order": "o-1", "total_cents": 799}
            )
            for _ in range(50):
                if settled:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # a second copy would have arrived by now
            await caller.close()
            await listener.close()
        return answer, settled

    answer, settled = asyncio.run(main())
    assert answer == {"order": "o-1", "charged_cents": 799, "payment": "pay-o-1"}
    assert settled == [answer]  # once, across nodes and accounts


def test_payments_keeps_exactly_one_copy_of_each_order_created(courtyard_identity):
    orders, payments = courtyard_identity("orders"), courtyard_identity("payments")

    async def main():
        async with running_service(payments, nodes=[1]) as service:
            publisher = await orders.connect(nodes=[0])
            js = publisher.jetstream()
            acked = 0
            for n in range(5):
                subject = f"orders.created.o-{n}"
                for _ in range(100):  # the new stream's interest crosses the nodes first
                    try:
                        await js.publish(
                            subject, b"{}", timeout=1, headers={"Nats-Msg-Id": subject}
                        )
                        acked += 1
                        break
                    except (NatsError, TimeoutError):
                        await asyncio.sleep(0.1)
            info = await service.js.stream_info(NAMES.stream)
            await publisher.close()
        return acked, info.state.messages

    assert asyncio.run(main()) == (5, 5)


def test_payments_cannot_forge_an_order(courtyard_identity):
    """Its certificate may publish `payments.>` only: an `orders.created` from it is refused
    by the server and reaches no one."""
    orders, payments = courtyard_identity("orders"), courtyard_identity("payments")

    async def main():
        refusals = []

        async def record(error):
            refusals.append(str(error))

        listener = await orders.connect(nodes=[2])
        heard = []

        async def on_order(msg):
            heard.append(msg.subject)

        await listener.subscribe("orders.created.>", cb=on_order)
        await listener.flush()
        forger = await payments.connect(nodes=[0], error_cb=record)
        await forger.publish("orders.created.forged", b"{}")
        await forger.flush()
        for _ in range(50):
            if refusals:
                break
            await asyncio.sleep(0.05)
        await forger.close()
        await listener.close()
        return refusals, heard

    refusals, heard = asyncio.run(main())
    assert any(
        'permissions violation for publish to "orders.created.forged"' in r.lower()
        for r in refusals
    )
    assert heard == []

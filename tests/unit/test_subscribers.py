"""Subscribers with FastStream's TestRabbitBroker: a message on its route reaches the consumer's handler.

Unit tests only: the test broker routes in memory and does not emulate acks, retry queues, TTLs or queue
arguments; what the failure policy does on the real broker is tested in tests/integration.
"""

from __future__ import annotations

from typing import Any

import pytest
from faststream.rabbit import RabbitBroker, RabbitQueue, TestRabbitBroker
from faststream.rabbit.annotations import RabbitMessage

from consumers.router.subscriber import build_router
from infra.batcher import TransactionBatcher
from infra.consuming import HEADER_ERROR_CLASS, DeliveryPolicy
from infra.topology import CITY_EVENTS, DEAD_LETTER_EXCHANGE, consumer_queue_name, dead_letter_queue_name
from tests.handler_env import HandlerEnv
from tests.unit.test_handlers import ROUTER, report

pytestmark = pytest.mark.unit


def router_broker(env: HandlerEnv) -> RabbitBroker:
    broker = RabbitBroker()
    policy = DeliveryPolicy("router", broker, max_attempts=3, max_transient_attempts=3)
    batcher = TransactionBatcher("router", env.sessions, max_size=1, max_wait_s=0)
    broker.include_router(build_router(service=ROUTER, batcher=batcher, policy=policy, prefetch=1, delivery_limit=5))
    return broker


async def test_a_filed_report_on_its_route_is_routed(handler_env: HandlerEnv) -> None:
    broker = router_broker(handler_env)
    async with TestRabbitBroker(broker) as test_broker:
        await test_broker.publish(report(), exchange=CITY_EVENTS, routing_key="report.filed", message_id="m-1")
    out = await handler_env.outcome()
    assert out.rows("inbox", "consumer", "message_id") == [{"consumer": "router", "message_id": "m-1"}]
    assert [key for key, _ in out.emitted] == ["workorder.issued.waste_company"]


async def test_a_report_of_the_wrong_shape_is_dead_lettered_with_its_reason(handler_env: HandlerEnv) -> None:
    broker = router_broker(handler_env)
    dead: list[dict[str, Any]] = []

    @broker.subscriber(
        RabbitQueue(dead_letter_queue_name("router"), routing_key=consumer_queue_name("router")), DEAD_LETTER_EXCHANGE
    )
    async def dead_letters(body: Any, message: RabbitMessage) -> None:  # what `hub dlq` would see
        dead.append(message.headers)

    async with TestRabbitBroker(broker) as test_broker:
        await test_broker.publish({"report_id": 1}, exchange=CITY_EVENTS, routing_key="report.filed", message_id="m-2")
    assert [h[HEADER_ERROR_CLASS] for h in dead] == ["ValidationError"]
    assert (await handler_env.outcome()).rows("inbox") == []

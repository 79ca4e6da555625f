"""The broker topology, declared in one place. Nobody declares these queues with other arguments elsewhere.

Public contract:
  * topic exchange `city.events`: `call.logged`, `report.filed`, `workorder.status` in;
    `workorder.issued.<assignee>`, `spike.detected`, `spike.resolved` out.
  * one durable queue per assignee, `workorders.<assignee>`, bound to `workorder.issued.<assignee>`.

Per consumer `<c>` (router, stats, spikes, ...):
  * `hub.<c>`       quorum queue, the consumer's input; dead-letters into `hub.retry` (transient failures, crashes);
  * `hub.<c>.retry` holds a failed delivery for `retry_delay_ms`, then dead-letters it back to `hub.<c>`;
  * `hub.<c>.dlq`   the consumer's dead-letter queue: deliveries that can never succeed, with the reason in headers.
"""

from __future__ import annotations

from typing import Any

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

CITY_EVENTS = RabbitExchange("city.events", type=ExchangeType.TOPIC, durable=True)
RETRY_EXCHANGE = RabbitExchange("hub.retry", type=ExchangeType.DIRECT, durable=True)
DEAD_LETTER_EXCHANGE = RabbitExchange("hub.dead", type=ExchangeType.DIRECT, durable=True)

WORKORDER_ISSUED_PREFIX = "workorder.issued"


def consumer_queue_name(consumer: str) -> str:
    return f"hub.{consumer}"


def retry_queue_name(consumer: str) -> str:
    return f"hub.{consumer}.retry"


def dead_letter_queue_name(consumer: str) -> str:
    return f"hub.{consumer}.dlq"


def workorder_queue_name(assignee: str) -> str:
    return f"workorders.{assignee}"


def workorder_routing_key(assignee: str) -> str:
    return f"{WORKORDER_ISSUED_PREFIX}.{assignee}"


def _quorum_args(**extra: Any) -> dict[str, Any]:
    # At-least-once dead-lettering needs reject-publish overflow on quorum queues.
    return {"x-overflow": "reject-publish", "x-dead-letter-strategy": "at-least-once", **extra}


def consumer_queue(consumer: str, routing_key: str, *, delivery_limit: int) -> RabbitQueue:
    return RabbitQueue(
        consumer_queue_name(consumer),
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=routing_key,
        arguments=_quorum_args(
            **{
                "x-dead-letter-exchange": RETRY_EXCHANGE.name,
                "x-dead-letter-routing-key": consumer_queue_name(consumer),
                "x-delivery-limit": delivery_limit,
            }
        ),
    )


def retry_queue(consumer: str, *, delay_ms: int) -> RabbitQueue:
    return RabbitQueue(
        retry_queue_name(consumer),
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=consumer_queue_name(consumer),
        arguments=_quorum_args(
            **{
                "x-message-ttl": delay_ms,
                # The default exchange routes by queue name: straight back to the consumer's queue.
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": consumer_queue_name(consumer),
            }
        ),
    )


def dead_letter_queue(consumer: str) -> RabbitQueue:
    return RabbitQueue(
        dead_letter_queue_name(consumer),
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=consumer_queue_name(consumer),
    )


def workorder_queue(assignee: str) -> RabbitQueue:
    return RabbitQueue(
        workorder_queue_name(assignee),
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=workorder_routing_key(assignee),
    )

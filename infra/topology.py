"""The broker topology, declared in one place. Nobody declares these queues with other arguments elsewhere.

Public contract:
  * topic exchange `city.events`: `call.logged`, `report.filed`, `workorder.status` in;
    `workorder.issued.<assignee>`, `workorder.status.applied`, `workorder.escalated.<department>`, `spike.detected`,
    `spike.resolved` out.
  * one durable queue per assignee, `workorders.<assignee>`, bound to `workorder.issued.<assignee>` (and
    `workorder.escalated.<assignee>`: escalations reach a department on its own queue).
  * the communication team's quorum queue `comms.alerts`, bound to `spike.*` (spikes, issue 7).

Per consumer `<c>` (router, stats, spikes, ...):
  * `hub.<c>`       quorum queue, the consumer's input; dead-letters into `hub.retry` (transient failures, crashes);
  * `hub.<c>.retry` holds a failed delivery for `retry_delay_ms`, then dead-letters it back to `hub.<c>`;
  * `hub.<c>.dlq`   the consumer's dead-letter queue: deliveries that can never succeed, with the reason in headers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

from infra import amqp

if TYPE_CHECKING:
    from faststream.rabbit.schemas.queue import QuorumQueueArgs

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


# Contractors
WORKORDER_ESCALATED_PREFIX = "workorder.escalated"


def workorder_escalated_routing_key(assignee: str) -> str:
    """Escalations land on the receiving department's own queue `workorders.<department>`."""
    return f"{WORKORDER_ESCALATED_PREFIX}.{assignee}"


# Operations
WORKORDER_REPORTER_ERASED_PREFIX = "workorder.reporter_erased"


def workorder_reporter_erased_routing_key(assignee: str) -> str:
    """`hub privacy erase` tells an assignee on its own queue `workorders.<assignee>` to erase a reporter's data."""
    return f"{WORKORDER_REPORTER_ERASED_PREFIX}.{assignee}"


# Spikes
COMMS_ALERTS_QUEUE = "comms.alerts"
SPIKE_ROUTING_PATTERN = "spike.*"


def comms_alerts_queue() -> RabbitQueue:
    """The communication team's own queue: every `spike.detected` and `spike.resolved`, for their tools to read."""
    return RabbitQueue(COMMS_ALERTS_QUEUE, queue_type=QueueType.QUORUM, routing_key=SPIKE_ROUTING_PATTERN)


def _quorum_args(**extra: Any) -> QuorumQueueArgs:
    # At-least-once dead-lettering needs reject-publish overflow on quorum queues.
    return cast("QuorumQueueArgs", {"x-overflow": "reject-publish", "x-dead-letter-strategy": "at-least-once", **extra})


def consumer_queue(consumer: str, routing_key: str, *, delivery_limit: int) -> RabbitQueue:
    """A consumer's input queue. `declare_topology` declares and binds it, once, before the broker starts: the
    consumer's subscriber only checks that it exists (`declare=False` is a passive declare in FastStream)."""
    return RabbitQueue(
        consumer_queue_name(consumer),
        declare=False,
        queue_type=QueueType.QUORUM,
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
        routing_key=consumer_queue_name(consumer),
    )


def workorder_queue(assignee: str) -> RabbitQueue:
    return RabbitQueue(
        workorder_queue_name(assignee),
        queue_type=QueueType.QUORUM,
        routing_key=workorder_routing_key(assignee),
    )


# What each consumer listens to on `city.events`. The consumer modules subscribe with the same queues.
CONSUMER_BINDINGS: dict[str, tuple[str, ...]] = {
    "router": ("report.filed",),
    # Contractors: status updates in (validated, applied); work orders out to webhooks and e-mail.
    "status": ("workorder.status",),
    "deliveries": ("workorder.issued.*",),
    "stats": (
        "call.logged",
        "report.filed",
        "workorder.issued.*",
        # Only validated changes: `workorder.status` is what anybody with a broker user may send.
        "workorder.status.applied",
        "spike.detected",
        "spike.resolved",
        "spike.broadcast",
    ),
    # Spikes: calls and reports counted, work orders for the assignees an alert names; alerts to e-mail/chat.
    "spikes": ("call.logged", "report.filed", "workorder.issued.*"),
    "notifier": ("spike.detected", "spike.resolved"),
}

# Contract keys routed per assignee (`<prefix>.<assignee>`, onto `workorders.<assignee>`).
PER_ASSIGNEE_PREFIXES = frozenset(
    {WORKORDER_ISSUED_PREFIX, WORKORDER_ESCALATED_PREFIX, WORKORDER_REPORTER_ERASED_PREFIX}
)

# Keys of the public contract that no queue of the hub takes, on purpose, with the reason (tests check that every
# other key reaches a queue: an outbox row under an unbound key would fail with NO_ROUTE on every attempt).
INTENTIONALLY_UNBOUND: dict[str, str] = {}

# Bindings older versions made and that must go: `declare_topology` removes them from existing queues.
RETIRED_BINDINGS: dict[str, tuple[str, ...]] = {
    # The statistics once counted the raw, unvalidated status stream (a contractor could forge figures).
    "stats": ("workorder.status",),
}


async def declare_topology(
    amqp_url: str,
    *,
    consumers: Iterable[str],
    assignees: Iterable[str],
    retry_delay_ms: int,
    delivery_limit: int,
) -> None:
    """Declare exchanges and every queue of the hub, idempotently (same arguments every time)."""
    connection = await amqp.connect_robust(amqp_url, "topology")
    async with connection:
        channel = await connection.channel()
        exchanges = {}
        for ex in (CITY_EVENTS, RETRY_EXCHANGE, DEAD_LETTER_EXCHANGE):
            exchanges[ex.name] = await channel.declare_exchange(ex.name, type=ex.type.value, durable=ex.durable)
        for consumer in consumers:
            keys = CONSUMER_BINDINGS[consumer]
            main = consumer_queue(consumer, keys[0], delivery_limit=delivery_limit)
            q = await channel.declare_queue(main.name, durable=True, arguments=main.arguments)
            for key in keys:
                await q.bind(exchanges[CITY_EVENTS.name], key)
            for key in RETIRED_BINDINGS.get(consumer, ()):
                await q.unbind(exchanges[CITY_EVENTS.name], key)
            retry = retry_queue(consumer, delay_ms=retry_delay_ms)
            rq = await channel.declare_queue(retry.name, durable=True, arguments=retry.arguments)
            await rq.bind(exchanges[RETRY_EXCHANGE.name], consumer_queue_name(consumer))
            dead = dead_letter_queue(consumer)
            dq = await channel.declare_queue(dead.name, durable=True, arguments=dead.arguments)
            await dq.bind(exchanges[DEAD_LETTER_EXCHANGE.name], consumer_queue_name(consumer))
        for assignee in assignees:
            wq = workorder_queue(assignee)
            queue = await channel.declare_queue(wq.name, durable=True, arguments=wq.arguments)
            await queue.bind(exchanges[CITY_EVENTS.name], workorder_routing_key(assignee))
            await queue.bind(exchanges[CITY_EVENTS.name], workorder_escalated_routing_key(assignee))  # contractors
            await queue.bind(exchanges[CITY_EVENTS.name], workorder_reporter_erased_routing_key(assignee))  # operations
        # Spikes: the communication team's queue, whichever consumers run.
        comms = comms_alerts_queue()
        cq = await channel.declare_queue(comms.name, durable=True, arguments=comms.arguments)
        await cq.bind(exchanges[CITY_EVENTS.name], SPIKE_ROUTING_PATTERN)

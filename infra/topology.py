"""The broker topology: names, queue arguments and the one builder that declares them.

Each consumer declares its own queues and bindings in `consumers/<name>/queues.py` (its input queue with the keys
it listens to, and the queues it fills for others); the composition root collects them into one `Topology` and
`declare_topology` declares it. Queue arguments are built here only, so nobody declares a queue with other ones.

Public contract:
  * topic exchange `city.events`: `call.logged`, `report.filed`, `workorder.status` in;
    `workorder.issued.<assignee>`, `workorder.status.applied`, `workorder.escalated.<department>`, `spike.detected`,
    `spike.resolved` out.
  * one durable queue per assignee, `workorders.<assignee>`, bound to `workorder.issued.<assignee>`,
    `workorder.updated.<assignee>` (an incident order's updates) and `workorder.escalated.<assignee>` (escalations
    reach a department on its own queue).
  * the communication team's quorum queue `comms.alerts`, bound to `spike.*` (spikes, issue 7).

Per consumer `<c>` (router, stats, spikes, ...):
  * `hub.<c>`       quorum queue, the consumer's input; dead-letters into `hub.retry` (transient failures, crashes);
  * `hub.<c>.retry` holds a failed delivery for `retry_delay_ms`, then dead-letters it back to `hub.<c>`;
  * `hub.<c>.dlq`   the consumer's dead-letter queue: deliveries that can never succeed, with the reason in headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


# Incident orders' updates (the router folds a live incident's reports into one order per assignee)
WORKORDER_UPDATED_PREFIX = "workorder.updated"


def workorder_updated_routing_key(assignee: str) -> str:
    """An incident order's updates reach its assignee where the order went: `workorders.<assignee>`."""
    return f"{WORKORDER_UPDATED_PREFIX}.{assignee}"


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


# Contract keys routed per assignee (`<prefix>.<assignee>`, onto `workorders.<assignee>`).
PER_ASSIGNEE_PREFIXES = frozenset(
    {WORKORDER_ISSUED_PREFIX, WORKORDER_UPDATED_PREFIX, WORKORDER_ESCALATED_PREFIX, WORKORDER_REPORTER_ERASED_PREFIX}
)

# Keys of the public contract that no queue of the hub takes, on purpose, with the reason (tests check that every
# other key reaches a queue: an outbox row under an unbound key would fail with NO_ROUTE on every attempt).
INTENTIONALLY_UNBOUND: dict[str, str] = {}


@dataclass(frozen=True)
class ConsumerQueues:
    """A consumer's input `hub.<name>` (with `.retry` and `.dlq`) and the keys it listens to on `city.events`.

    `declare_topology` (run before the broker starts) declares the queue and binds every key, and removes the
    `retired` bindings older versions made; the consumer's subscriber (`input_queue`) only checks that it exists.
    """

    name: str
    bindings: tuple[str, ...]
    retired: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.bindings:
            raise ValueError(f"consumer {self.name!r}: no binding")

    def input_queue(self, *, delivery_limit: int) -> RabbitQueue:
        return consumer_queue(self.name, self.bindings[0], delivery_limit=delivery_limit)


@dataclass(frozen=True)
class SharedQueue:
    """A queue the hub fills for others to read (an assignee's work orders, the communication team's alerts)."""

    queue: RabbitQueue
    bindings: tuple[str, ...]


@dataclass
class Topology:
    """Everything `declare_topology` declares, collected from the consumers' `queues.py`.

    A queue is declared by one consumer only: a second declaration of the same name is an error here, at start-up,
    not a `PRECONDITION_FAILED` from the broker. Another consumer adds its keys to a shared queue with `bind`.
    """

    consumers: dict[str, ConsumerQueues] = field(default_factory=dict)
    queues: dict[str, SharedQueue] = field(default_factory=dict)

    def consumer(self, queues: ConsumerQueues) -> None:
        if queues.name in self.consumers:
            raise ValueError(f"consumer {queues.name!r} declared twice")
        self.consumers[queues.name] = queues

    def queue(self, queue: RabbitQueue, *bindings: str) -> None:
        if queue.name in self.queues:
            raise ValueError(f"queue {queue.name!r} declared twice")
        self.queues[queue.name] = SharedQueue(queue, tuple(bindings))

    def bind(self, queue_name: str, *bindings: str) -> None:
        shared = self.queues[queue_name]
        self.queues[queue_name] = SharedQueue(shared.queue, (*shared.bindings, *bindings))


async def declare_topology(amqp_url: str, topology: Topology, *, retry_delay_ms: int, delivery_limit: int) -> None:
    """Declare the exchanges and every queue of `topology`, idempotently (same arguments every time)."""
    connection = await amqp.connect_robust(amqp_url, "topology")
    async with connection:
        channel = await connection.channel()
        exchanges = {}
        for ex in (CITY_EVENTS, RETRY_EXCHANGE, DEAD_LETTER_EXCHANGE):
            exchanges[ex.name] = await channel.declare_exchange(ex.name, type=ex.type.value, durable=ex.durable)
        for consumer in topology.consumers.values():
            main = consumer.input_queue(delivery_limit=delivery_limit)
            q = await channel.declare_queue(main.name, durable=True, arguments=main.arguments)
            for key in consumer.bindings:
                await q.bind(exchanges[CITY_EVENTS.name], key)
            for key in consumer.retired:
                await q.unbind(exchanges[CITY_EVENTS.name], key)
            retry = retry_queue(consumer.name, delay_ms=retry_delay_ms)
            rq = await channel.declare_queue(retry.name, durable=True, arguments=retry.arguments)
            await rq.bind(exchanges[RETRY_EXCHANGE.name], consumer_queue_name(consumer.name))
            dead = dead_letter_queue(consumer.name)
            dq = await channel.declare_queue(dead.name, durable=True, arguments=dead.arguments)
            await dq.bind(exchanges[DEAD_LETTER_EXCHANGE.name], consumer_queue_name(consumer.name))
        for shared in topology.queues.values():
            queue = await channel.declare_queue(shared.queue.name, durable=True, arguments=shared.queue.arguments)
            for key in shared.bindings:
                await queue.bind(exchanges[CITY_EVENTS.name], key)

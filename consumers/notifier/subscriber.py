"""The notifier consumer: `spike.detected` / `spike.resolved` in, an e-mail and a chat message scheduled for each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from faststream.rabbit import RabbitRouter
from faststream.rabbit.annotations import RabbitMessage

from consumers.notifier.handler import NotifierService
from consumers.notifier.queues import QUEUES
from consumers.notifier.worker import NotifierWorker
from contracts import SpikeDetected, SpikeResolved
from infra.batcher import TransactionBatcher
from infra.cloudevents import message_id_of
from infra.consuming import DeliveryPolicy, consumer_subscriber, current_message, original_route, routed
from infra.errors import PermanentError
from infra.topology import consumer_queue_name

NAME = QUEUES.name


def build_router(
    *,
    service: NotifierService,
    worker: NotifierWorker | None,
    batcher: TransactionBatcher,
    policy: DeliveryPolicy,
    prefetch: int,
    delivery_limit: int,
) -> RabbitRouter:
    router = RabbitRouter(middlewares=[policy])
    subscriber = consumer_subscriber(
        router,
        QUEUES,
        prefetch=prefetch,
        delivery_limit=delivery_limit,
        title="hub.notifier",
        description="Schedules an e-mail and a chat message to the communication team for every spike alert.",
    )

    async def schedule(alert: SpikeDetected | SpikeResolved, message: RabbitMessage) -> None:
        # The alert's message id is its unique key in the spikes consumer's `alerts` table.
        alert_id = message_id_of(message.headers, message.message_id)
        await batcher.submit(alert_id, lambda session: service.enqueue(session, alert, alert_id))
        await message.ack()
        if worker is not None:
            worker.wake()

    def _is(routing_key: str) -> Callable[[RabbitMessage], Awaitable[bool]]:
        return routed(NAME, lambda key: key == routing_key)

    @subscriber(filter=_is(SpikeDetected.routing_key))
    async def on_spike_detected(alert: SpikeDetected) -> None:
        """Schedule the e-mail and chat message of a detected spike (or an update of one)."""
        message = current_message()
        await schedule(alert, message)

    @subscriber(filter=_is(SpikeResolved.routing_key))
    async def on_spike_resolved(alert: SpikeResolved) -> None:
        """Schedule the e-mail and chat message saying an incident is over."""
        message = current_message()
        await schedule(alert, message)

    @subscriber
    async def on_unexpected(message: RabbitMessage) -> None:
        """Anything else bound to the queue by mistake goes to the dead-letter queue."""
        route = original_route(message, consumer_queue_name(NAME))[1]
        raise PermanentError(f"the notifier does not take messages with routing key {route!r}")

    return router

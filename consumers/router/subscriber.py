"""The router consumer: `report.filed` in, work orders out (one per assignee, exactly once); `spike.detected` and
`spike.resolved` in, so a live incident's reports fold into one incident order per assignee (`incidents`)."""

from __future__ import annotations

from faststream.rabbit import RabbitRouter

from consumers.router.handler import RoutingService
from consumers.router.queues import QUEUES
from contracts import ReportFiled, SpikeDetected, SpikeResolved
from infra.batcher import TransactionBatcher
from infra.cloudevents import message_id_of
from infra.consuming import DeliveryPolicy, consumer_subscriber, current_message, routed

NAME = QUEUES.name
_SPIKE_KEYS = (SpikeDetected.routing_key, SpikeResolved.routing_key)


def build_router(
    *,
    service: RoutingService,
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
        title="hub.router",
        description="Routes each filed report to its department(s) or contractor(s) as work orders; while an "
        "incident is live (spike.detected until spike.resolved) its reports fold into one incident order per "
        "assignee.",
    )

    @subscriber(filter=routed(NAME, lambda key: key == SpikeDetected.routing_key))
    async def on_spike_detected(spike: SpikeDetected) -> None:
        """Record a live incident; the reports routed before it are merged into its incident orders."""
        message = current_message()
        message_id = message_id_of(message.headers, message.message_id)
        await batcher.submit(message_id, lambda session: service.apply_spike(session, spike, message_id))
        await message.ack()

    @subscriber(filter=routed(NAME, lambda key: key == SpikeResolved.routing_key))
    async def on_spike_resolved(spike: SpikeResolved) -> None:
        """End an incident's span; its incident orders get their last update."""
        message = current_message()
        message_id = message_id_of(message.headers, message.message_id)
        await batcher.submit(message_id, lambda session: service.apply_spike(session, spike, message_id))
        await message.ack()

    @subscriber(filter=routed(NAME, lambda key: key not in _SPIKE_KEYS))
    async def on_report_filed(report: ReportFiled) -> None:
        """Route a report to its assignees as work orders, exactly once per (report, assignee)."""
        message = current_message()
        message_id = message_id_of(message.headers, message.message_id)
        await batcher.submit(message_id, lambda session: service.apply(session, report, message_id))
        await message.ack()

    return router

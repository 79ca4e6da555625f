"""The router consumer: `report.filed` in, work orders out (one per assignee, exactly once)."""

from __future__ import annotations

from faststream.rabbit import RabbitRouter

from consumers.router.handler import RoutingService
from consumers.router.queues import QUEUES
from contracts import ReportFiled
from infra.batcher import TransactionBatcher
from infra.cloudevents import message_id_of
from infra.consuming import DeliveryPolicy, consumer_subscriber, current_message

NAME = QUEUES.name


def build_router(
    *,
    service: RoutingService,
    batcher: TransactionBatcher,
    policy: DeliveryPolicy,
    prefetch: int,
    delivery_limit: int,
) -> RabbitRouter:
    router = RabbitRouter(middlewares=[policy])

    @consumer_subscriber(
        router,
        QUEUES,
        prefetch=prefetch,
        delivery_limit=delivery_limit,
        title="hub.router:report.filed",
        description="Routes each filed report to its department(s) or contractor(s) as work orders.",
    )
    async def on_report_filed(report: ReportFiled) -> None:
        """Route a report to its assignees as work orders, exactly once per (report, assignee)."""
        message = current_message()
        message_id = message_id_of(message.headers, message.message_id)
        await batcher.submit(message_id, lambda session: service.apply(session, report, message_id))
        await message.ack()

    return router

"""The spikes consumer: calls, reports (and the work orders issued for them) in; `spike.detected` / `spike.resolved` out.

All of them arrive on the one queue `hub.spikes` (bindings in `consumers/spikes/queues.py`); the handler is
chosen by the routing key the message was first published with (also after a retry round, from `x-death`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from faststream.rabbit import RabbitRouter
from faststream.rabbit.annotations import RabbitMessage

from consumers.spikes.handler import SpikesService
from consumers.spikes.queues import QUEUES
from contracts import CallLogged, ReportFiled, WorkOrderIssued
from infra.batcher import Apply, TransactionBatcher
from infra.cloudevents import message_id_of
from infra.consuming import DeliveryPolicy, consumer_subscriber, current_message, original_route, routed
from infra.errors import PermanentError
from infra.topology import WORKORDER_ISSUED_PREFIX, consumer_queue_name

NAME = QUEUES.name


def routing_key_of(message: RabbitMessage) -> str:
    return original_route(message, consumer_queue_name(NAME))[1]


def _is(routing_key: str) -> Callable[[RabbitMessage], Awaitable[bool]]:
    return routed(NAME, lambda key: key == routing_key)


_is_workorder_issued = routed(NAME, lambda key: key.startswith(f"{WORKORDER_ISSUED_PREFIX}."))


def build_router(
    *,
    service: SpikesService,
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
        title="hub.spikes",
        description=(
            "Counts calls and reports per incident key on event time, judges them against the seasonal "
            "baseline and emits spike.detected / spike.resolved once per incident."
        ),
    )

    async def once(message: RabbitMessage, apply: Apply) -> None:
        await batcher.submit(message_id_of(message.headers, message.message_id), apply)
        await message.ack()

    @subscriber(filter=_is(CallLogged.routing_key))
    async def on_call_logged(call: CallLogged) -> None:
        """Count a call about a problem in public space toward its district."""
        message = current_message()
        message_id = message_id_of(message.headers, message.message_id)
        await once(message, lambda session: service.apply_call(session, call, message_id))

    @subscriber(filter=_is(ReportFiled.routing_key))
    async def on_report_filed(report: ReportFiled) -> None:
        """Count a report toward its district and street."""
        message = current_message()
        message_id = message_id_of(message.headers, message.message_id)
        await once(message, lambda session: service.apply_report(session, report, message_id))

    @subscriber(filter=_is_workorder_issued)
    async def on_workorder_issued(order: WorkOrderIssued) -> None:
        """Remember the assignee of a report's work order, for the alert's `assignees_notified`."""
        message = current_message()
        await once(message, lambda session: service.apply_workorder(session, order))

    @subscriber
    async def on_unexpected(message: RabbitMessage) -> None:
        """Anything else bound to the queue by mistake goes to the dead-letter queue."""
        raise PermanentError(f"the spikes consumer does not take messages with routing key {routing_key_of(message)!r}")

    return router

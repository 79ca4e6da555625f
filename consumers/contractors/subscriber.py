"""The two consumers of the contractors package.

* `status`: `workorder.status` in; the change applied exactly once, or dead-lettered with the reason.
* `deliveries`: `workorder.issued.*` in; a scheduled delivery for each webhook or e-mail assignee's work order.
"""

from __future__ import annotations

from faststream.rabbit import RabbitRouter

from consumers.contractors.deliveries import DeliveryWorker
from consumers.contractors.queues import DELIVERIES as DELIVERIES_QUEUES
from consumers.contractors.queues import STATUS as STATUS_QUEUES
from consumers.contractors.rules import inbox_key
from consumers.contractors.scheduling import DeliveryService
from consumers.contractors.status import StatusService
from contracts import IncidentOrderUpdated, WorkOrderIssued, WorkOrderStatusChanged
from infra.batcher import TransactionBatcher
from infra.cloudevents import message_id_of
from infra.consuming import DeliveryPolicy, consumer_subscriber, current_message, routed
from infra.topology import WORKORDER_UPDATED_PREFIX

STATUS = STATUS_QUEUES.name
DELIVERIES = DELIVERIES_QUEUES.name


def build_status_router(
    *,
    service: StatusService,
    batcher: TransactionBatcher,
    policy: DeliveryPolicy,
    prefetch: int,
    delivery_limit: int,
) -> RabbitRouter:
    router = RabbitRouter(middlewares=[policy])

    @consumer_subscriber(
        router,
        STATUS_QUEUES,
        prefetch=prefetch,
        delivery_limit=delivery_limit,
        title="hub.status:workorder.status",
        description=(
            "Status updates from assignees: checked against the state machine, the work order's owner and the "
            "sender's broker user (AMQP user_id), applied once; refused ones go to hub.status.dlq with the reason."
        ),
    )
    async def on_status_changed(change: WorkOrderStatusChanged) -> None:
        """Apply a status change exactly once, or refuse it (PermanentError: dead-lettered with the reason)."""
        message = current_message()
        sender = service.amqp_sender(message.raw_message.user_id, message.headers)
        # Scoped to its sender: another contractor's (or the callback's) use of an id never hides this message;
        # the body's hash makes the same id with another body a refusal, not a silent duplicate.
        key = inbox_key(sender, message_id_of(message.headers, message.message_id))
        await batcher.submit(key, lambda session: service.apply(session, change, key, sender), body=message.body)
        await message.ack()

    return router


def build_deliveries_router(
    *,
    service: DeliveryService,
    worker: DeliveryWorker | None,
    batcher: TransactionBatcher,
    policy: DeliveryPolicy,
    prefetch: int,
    delivery_limit: int,
) -> RabbitRouter:
    router = RabbitRouter(middlewares=[policy])
    subscriber = consumer_subscriber(
        router,
        DELIVERIES_QUEUES,
        prefetch=prefetch,
        delivery_limit=delivery_limit,
        title="hub.deliveries:workorder.issued.*",
        description="Schedules a signed webhook or an e-mail for each work order of a webhook or e-mail assignee, "
        "and for each update of an incident order (workorder.updated.*).",
    )

    @subscriber(filter=routed(DELIVERIES, lambda key: key.startswith(f"{WORKORDER_UPDATED_PREFIX}.")))
    async def on_incident_order_updated(update: IncidentOrderUpdated) -> None:
        """Schedule an incident order's update once, to where its order went."""
        message = current_message()
        message_id = message_id_of(message.headers, message.message_id)
        await batcher.submit(message_id, lambda session: service.enqueue_update(session, update))
        await message.ack()
        if worker is not None:
            worker.wake(update.assignee)

    @subscriber(filter=routed(DELIVERIES, lambda key: not key.startswith(f"{WORKORDER_UPDATED_PREFIX}.")))
    async def on_work_order_issued(order: WorkOrderIssued) -> None:
        """Schedule the work order's delivery once; the worker sends it (never while the broker waits)."""
        message = current_message()
        message_id = message_id_of(message.headers, message.message_id)
        await batcher.submit(message_id, lambda session: service.enqueue(session, order))
        await message.ack()
        if worker is not None:
            worker.wake(order.assignee)

    return router

"""The statistics consumer: calls, reports, work orders, status changes and spikes in; counters kept current.

All of them arrive on the one queue `hub.stats` (one queue per consumer, see `infra.topology`), each type with
its own handler. The type is named by the routing key the message was published with (the public contract);
after a retry round the broker's `x-death` header still has it. A message replayed from the dead-letter queue
(`hub dlq replay`) comes straight to the queue under the queue's name: its CloudEvents type names it then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from faststream.rabbit import RabbitRouter
from faststream.rabbit.annotations import RabbitMessage

from consumers.stats.handler import StatsService
from consumers.stats.queues import QUEUES
from contracts import (
    CallLogged,
    Contract,
    IncidentBroadcast,
    IncidentOrderUpdated,
    ReportFiled,
    SpikeDetected,
    SpikeResolved,
    WorkOrderIssued,
    WorkOrderStatusApplied,
)
from infra.batcher import Apply, TransactionBatcher
from infra.cloudevents import PREFIX as CE_PREFIX
from infra.cloudevents import message_id_of
from infra.consuming import DeliveryPolicy, consumer_subscriber, current_message, original_route
from infra.errors import PermanentError
from infra.topology import WORKORDER_ISSUED_PREFIX, WORKORDER_UPDATED_PREFIX, consumer_queue_name

NAME = QUEUES.name


CONTRACTS: tuple[type[Contract], ...] = (
    CallLogged,
    ReportFiled,
    WorkOrderIssued,
    IncidentOrderUpdated,
    WorkOrderStatusApplied,
    SpikeDetected,
    SpikeResolved,
    IncidentBroadcast,
)
_BY_CE_TYPE = {contract.ce_type: contract for contract in CONTRACTS}


def routing_key_of(message: RabbitMessage) -> str:
    """The routing key the message was first published with, also after a retry round."""
    return original_route(message, consumer_queue_name(NAME))[1]


def contract_of(message: RabbitMessage) -> type[Contract] | None:
    """Which message this is: by routing key, else (a replay straight to the queue) by CloudEvents type."""
    key = routing_key_of(message)
    if key.startswith(f"{WORKORDER_ISSUED_PREFIX}."):
        return WorkOrderIssued
    if key.startswith(f"{WORKORDER_UPDATED_PREFIX}."):
        return IncidentOrderUpdated
    for contract in CONTRACTS:
        if key == contract.routing_key:
            return contract
    ce_type = message.headers.get(f"{CE_PREFIX}type") or message.raw_message.type
    if isinstance(ce_type, bytes):
        ce_type = ce_type.decode("utf-8", "replace")
    return _BY_CE_TYPE.get(str(ce_type)) if ce_type else None


def _is(contract: type[Contract]) -> Callable[[RabbitMessage], Awaitable[bool]]:
    # A coroutine function: FastStream runs a plain function filter in a worker thread, per handler and delivery.
    async def matches(message: RabbitMessage) -> bool:
        return contract_of(message) is contract

    return matches


def build_router(
    *,
    service: StatsService,
    batcher: TransactionBatcher,
    policy: DeliveryPolicy,
    prefetch: int,
    delivery_limit: int,
) -> RabbitRouter:
    """The `hub.stats` queue's handlers: one per contract, since FastStream decodes and documents (AsyncAPI) each
    message by its handler's annotated type; each hands its counting to the batcher (seven such, and a refusal).

    Long because it declares those eight handlers, a few lines each, side by side on the one queue."""
    router = RabbitRouter(middlewares=[policy])
    subscriber = consumer_subscriber(
        router,
        QUEUES,
        prefetch=prefetch,
        delivery_limit=delivery_limit,
        title="hub.stats",
        description="Keeps the statistics: calls, reports, work orders, their status changes and spikes.",
    )

    async def once(apply: Apply) -> None:
        message = current_message()
        await batcher.submit(message_id_of(message.headers, message.message_id), apply)
        await message.ack()

    @subscriber(filter=_is(CallLogged))
    async def on_call_logged(call: CallLogged) -> None:
        """Count a logged call."""
        await once(lambda session: service.apply_call(session, call))

    @subscriber(filter=_is(ReportFiled))
    async def on_report_filed(report: ReportFiled) -> None:
        """Count a filed report (without its reporter's data)."""
        await once(lambda session: service.apply_report(session, report))

    @subscriber(filter=_is(WorkOrderIssued))
    async def on_workorder_issued(order: WorkOrderIssued) -> None:
        """Count an issued work order and keep its due date for the SLA figures."""
        await once(lambda session: service.apply_workorder(session, order))

    @subscriber(filter=_is(IncidentOrderUpdated))
    async def on_incident_order_updated(update: IncidentOrderUpdated) -> None:
        """Keep which reports an incident order stands for."""
        await once(lambda session: service.apply_update(session, update))

    @subscriber(filter=_is(WorkOrderStatusApplied))
    async def on_workorder_status(change: WorkOrderStatusApplied) -> None:
        """Keep a work order's validated status change for the SLA figures (never the raw `workorder.status`)."""
        await once(lambda session: service.apply_status(session, change))

    @subscriber(filter=_is(SpikeDetected))
    async def on_spike_detected(spike: SpikeDetected) -> None:
        """Count a detected spike and keep its alert time for the incident timeline."""
        await once(lambda session: service.apply_spike(session, spike))

    @subscriber(filter=_is(SpikeResolved))
    async def on_spike_resolved(spike: SpikeResolved) -> None:
        """Keep when a spike was resolved."""
        await once(lambda session: service.apply_spike(session, spike))

    @subscriber(filter=_is(IncidentBroadcast))
    async def on_incident_broadcast(broadcast: IncidentBroadcast) -> None:
        """Keep when the communication team's notice went out, for the incident timeline."""
        await once(lambda session: service.apply_broadcast(session, broadcast))

    @subscriber
    async def on_unexpected(message: RabbitMessage) -> None:
        """Anything else bound to the queue by mistake goes to the dead-letter queue, not into a figure."""
        raise PermanentError(
            f"the statistics do not count messages with routing key {routing_key_of(message)!r} "
            f"and type {message.raw_message.type!r}"
        )

    return router

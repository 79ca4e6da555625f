"""What the contractors' deliveries send, and the rows that schedule it: one per work order for a webhook or
e-mail assignee, one per incident-order update, one reminder per open order at its due date.

Each row's id (the webhook-id, the e-mail's Message-ID) is derived from what it carries, so every replica,
replay and attempt uses the same one and the table's unique key makes each row once. `deliveries` sends them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from consumers.contractors.rules import OPEN_STATUSES, reminder_channel, reminder_due
from consumers.contractors.tables import Delivery
from consumers.domain.catalogue import Assignee, Catalogue
from consumers.router.tables import WorkOrder
from contracts import IncidentOrderUpdated, WorkOrderIssued
from infra.batcher import deferred
from infra.clock import aware, utcnow
from infra.db.dialect import insert_ignore
from infra.outbox import Outgoing
from infra.sending import PENDING

log = logging.getLogger(__name__)

CHANNELS = ("webhook", "email")
EVENT_TYPE = "workorder.issued"
_SCHEDULED = "deliveries.scheduled"
_DELIVERY_NAMESPACE = uuid.UUID("0b7d3c1e-2f4a-5e6b-8c9d-1a2b3c4d5e6f")


REMINDER = "workorder.reminder"
UPDATE_EVENT_TYPE = "workorder.updated"
REMINDER_BATCH = 500


def delivery_id_for(work_order_id: str, kind: str = EVENT_TYPE) -> str:
    """The webhook-id: the same for a work order (or its reminder) on every attempt, every replay and every
    replica, so that the row's unique key makes it once."""
    return "msg_" + uuid.uuid5(_DELIVERY_NAMESPACE, f"{work_order_id}/{kind}").hex


def new_row(
    work_order_id: str, kind: str, assignee: str, channel: str, body: bytes, now: dt.datetime
) -> dict[str, Any]:
    """A delivery row of `kind` for a work order, its first attempt due now."""
    return {
        "delivery_id": delivery_id_for(work_order_id, kind),
        "work_order_id": work_order_id,
        "assignee": assignee,
        "kind": kind,
        "channel": channel,
        "body": body,
        "state": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def reminder_body(order: WorkOrder, assignee: Assignee, category_name_nl: str, now: dt.datetime) -> bytes:
    """The reminder's payload (webhook body; the e-mail is composed from it): which order, its due date and status.

    Nothing from the report: no address, no description, no reporter, so no data policy can be broken by it."""
    data = {
        "work_order_id": order.work_order_id,
        "report_id": order.report_id,
        "assignee": assignee.code,
        "category": order.category,
        "category_name_nl": category_name_nl,
        "status": order.status,
        "due_date": order.due_date.isoformat(),
        "issued_at": aware(order.issued_at).isoformat(),
    }
    envelope = {"type": REMINDER, "timestamp": now.isoformat(), "data": data}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def update_webhook_body(update: IncidentOrderUpdated) -> bytes:
    """An incident order's update as a Standard Webhooks payload (`type` `workorder.updated`)."""
    envelope = {
        "type": UPDATE_EVENT_TYPE,
        "timestamp": update.updated_at.isoformat(),
        "data": update.model_dump(mode="json"),
    }
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def webhook_body(order: WorkOrderIssued) -> bytes:
    """The Standard Webhooks payload: type, timestamp and the work order as the data policy let it through."""
    envelope = {"type": EVENT_TYPE, "timestamp": order.issued_at.isoformat(), "data": order.model_dump(mode="json")}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def policy_filtered(order: WorkOrderIssued, assignee: Assignee) -> WorkOrderIssued:
    """Defence in depth: the router already withheld the reporter; never send it where the policy forbids it."""
    if order.reporter is not None and not assignee.may_see_contact:
        log.warning(
            "work order carried reporter data its assignee may not see: withheld",
            extra={"work_order_id": order.work_order_id},
        )
        return order.model_copy(update={"reporter": None})
    return order


@dataclass
class _Scheduled:
    """The delivery rows of one transaction, written as one executemany when it commits (`infra.batcher.deferred`).

    A `.values(...)` statement per work order cost about a millisecond of CPU each (built and compiled per row,
    benchmarks/README.md); one constant statement for the batch costs tens of microseconds per row.
    """

    service: DeliveryService
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def flush(self, session: AsyncSession) -> list[Outgoing]:
        await self.service.write(session, list(self.rows.values()))
        return []


@dataclass(frozen=True)
class DeliveryService:
    """The consumer's effect: one delivery row per work order for a webhook or e-mail assignee."""

    catalogue: Catalogue
    clock: Callable[[], dt.datetime] = utcnow

    def row(self, order: WorkOrderIssued) -> dict[str, Any] | None:
        """The delivery row of a work order (its first attempt now); None for a queue assignee (it reads its queue)."""
        assignee = self.catalogue.assignees.get(order.assignee)
        if assignee is None or assignee.channel not in CHANNELS:
            return None
        order = policy_filtered(order, assignee)
        body = webhook_body(order) if assignee.channel == "webhook" else order.model_dump_json().encode()
        return new_row(order.work_order_id, EVENT_TYPE, assignee.code, assignee.channel, body, self.clock())

    async def enqueue(self, session: AsyncSession, order: WorkOrderIssued) -> None:
        """Schedule the first attempt, written with the transaction's other deliveries before it commits."""
        row = self.row(order)
        if row is not None:
            scheduled = deferred(session, _SCHEDULED, lambda: _Scheduled(self))
            scheduled.rows.setdefault(row["delivery_id"], row)

    async def enqueue_update(self, session: AsyncSession, update: IncidentOrderUpdated) -> None:
        """An incident order's update goes where the order went: the assignee's webhook or mailbox (or its queue)."""
        assignee = self.catalogue.assignees.get(update.assignee)
        if assignee is None or assignee.channel not in CHANNELS:
            return
        body = update_webhook_body(update) if assignee.channel == "webhook" else update.model_dump_json().encode()
        row = new_row(update.work_order_id, UPDATE_EVENT_TYPE, assignee.code, assignee.channel, body, self.clock())
        # An update's id is its own (one order has several updates), not the order's.
        row["delivery_id"] = delivery_id_for(update.update_id, UPDATE_EVENT_TYPE)
        await session.execute(insert_ignore(session, Delivery).values(**row))

    async def write(self, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
        """Insert delivery rows (one executemany, in id order; a work order scheduled before is left as it is)."""
        if rows:
            ordered = sorted(rows, key=lambda r: str(r["delivery_id"]))
            await session.execute(insert_ignore(session, Delivery), ordered)

    async def remind_due(self, session: AsyncSession, *, hour: int, tz: ZoneInfo) -> int:
        """One reminder row per open order at its due date (see `rules.reminder_due`); the number added.

        Replica-safe and once: the row's id is derived from the order (`delivery_id_for(..., REMINDER)`) and
        inserted with insert-ignore, so two replicas scanning at the same moment add it once between them, and a
        later scan finds it there (the NOT EXISTS) and skips the order for good.
        """
        now = self.clock()
        local = now.astimezone(tz)
        channels = {a.code: ch for a in self.catalogue.assignees.values() if (ch := reminder_channel(a))}
        if not channels:
            return 0
        reminded = exists().where(Delivery.work_order_id == WorkOrder.work_order_id, Delivery.kind == REMINDER)
        rows = (
            await session.execute(
                select(WorkOrder)
                .where(
                    WorkOrder.assignee.in_(list(channels)),
                    WorkOrder.status.in_([s.value for s in OPEN_STATUSES]),
                    WorkOrder.due_date <= local.date(),
                    # Issued before its due date (the UTC date here; `reminder_due` decides in city time).
                    func.date(WorkOrder.issued_at) < WorkOrder.due_date,
                    ~reminded,
                )
                .order_by(WorkOrder.due_date, WorkOrder.work_order_id)
                .limit(REMINDER_BATCH)
            )
        ).scalars()
        added = 0
        for order in list(rows):
            if not reminder_due(order.due_date, aware(order.issued_at).astimezone(tz).date(), local, hour=hour):
                continue
            assignee = self.catalogue.assignee(order.assignee)
            category = self.catalogue.category(order.category)
            name = category.name_nl if category is not None else order.category
            body = reminder_body(order, assignee, name, now)
            row = new_row(order.work_order_id, REMINDER, assignee.code, channels[assignee.code], body, now)
            inserted = await session.execute(insert_ignore(session, Delivery).values(**row).returning(Delivery.id))
            added += inserted.scalar_one_or_none() is not None
        return added

"""Status changes made outside the broker: staff acting for a contractor, and the contractor's e-mail links.

Both go through `StatusService.apply` in an inbox-guarded transaction of the `status` consumer (its batcher),
exactly as a broker message and the signed callback do: the same sender check, work order check and state
machine, the same history row (`work_order_events`, its `sender` saying who: `staff:<author> on behalf of
<assignee>` or `email-link:<assignee>`) and the same `WorkOrderStatusApplied` in the outbox, which the relay of a
running hub publishes (the statistics and the reports follow from it). A change applied twice under one message
id is applied once; a change to the status the order already has changes nothing and says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from consumers.contractors.rules import OPEN_STATUSES, Sender, inbox_key
from consumers.contractors.status import StatusService
from consumers.contractors.tables import WorkOrderEvent
from consumers.router.tables import Report, WorkOrder
from contracts import WorkOrderStatusChanged
from infra.batcher import TransactionBatcher
from infra.clock import aware
from infra.outbox import Outgoing


class Outcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"  # the order already had this status (or a newer change overtook it)
    DUPLICATE = "duplicate"  # this very message id was applied before


@dataclass(frozen=True)
class OnBehalf:
    """Applies a status change for an assignee through the `status` consumer's validated path."""

    service: StatusService
    batcher: TransactionBatcher

    async def apply(self, change: WorkOrderStatusChanged, sender: Sender, message_id: str) -> Outcome:
        """Apply once; raises `PermanentError` with the reason when the change is not allowed."""
        key = inbox_key(sender, message_id)
        changed: list[bool] = []

        async def go(session: AsyncSession) -> list[Outgoing]:
            outgoing = await self.service.apply(session, change, key, sender)
            changed.append(bool(outgoing))
            return outgoing

        if not await self.batcher.submit(key, go, body=change.model_dump_json().encode()):
            return Outcome.DUPLICATE
        return Outcome.APPLIED if changed and changed[-1] else Outcome.UNCHANGED


async def find_order(session: AsyncSession, work_order_id: str) -> WorkOrder | None:
    return (
        await session.execute(select(WorkOrder).where(WorkOrder.work_order_id == work_order_id))
    ).scalar_one_or_none()


async def filed_at(session: AsyncSession, work_order_id: str) -> dt.datetime | None:
    """When the report of a work order was filed (the start of its SLA clock), if the order exists."""
    stmt = select(Report.filed_at).join(WorkOrder, WorkOrder.report_id == Report.report_id)
    value = (await session.execute(stmt.where(WorkOrder.work_order_id == work_order_id))).scalar_one_or_none()
    return aware(value) if value is not None else None


async def history(session: AsyncSession, work_order_id: str) -> list[WorkOrderEvent]:
    """The applied status changes of a work order, in the order they were applied."""
    rows = await session.execute(
        select(WorkOrderEvent).where(WorkOrderEvent.work_order_id == work_order_id).order_by(WorkOrderEvent.id)
    )
    return list(rows.scalars())


async def list_orders(
    session: AsyncSession,
    *,
    assignee: str | None = None,
    overdue_on: dt.date | None = None,
    include_closed: bool = False,
    limit: int = 100,
) -> Sequence[WorkOrder]:
    """Work orders, overdue first then by due date: open ones unless `include_closed`; with `overdue_on`, only
    the open ones whose due date is before that day."""
    stmt = select(WorkOrder)
    if assignee:
        stmt = stmt.where(WorkOrder.assignee == assignee)
    if overdue_on is not None or not include_closed:
        stmt = stmt.where(WorkOrder.status.in_([s.value for s in OPEN_STATUSES]))
    if overdue_on is not None:
        stmt = stmt.where(WorkOrder.due_date < overdue_on)
    stmt = stmt.order_by(WorkOrder.due_date, WorkOrder.issued_at, WorkOrder.work_order_id).limit(limit)
    return list((await session.execute(stmt)).scalars())

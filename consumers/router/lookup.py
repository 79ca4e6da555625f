"""A caller asks about their report: find it by report id, work order id or street, with its status and due dates.

Read-only, for the ContactCenter's agents. What a case shows depends on whether the reader may see personal data
(`may_see_contact`, decided by the caller from the reader's roles): without it the reporter's name, phone and
e-mail are left out and the description is masked as for an assignee that may not see them
(`masking.mask_contact_data`), so a caller's own words never show another citizen's number.

The query is bounded (`MAX_QUERY_CHARS`, `MAX_RESULTS`); a street is matched case-insensitively on its start
("stapel" finds the Stapelstraat), newest reports first. An id is matched exactly, never by a pattern.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from consumers.domain.refusal import Refusal
from consumers.router.masking import REDACTED, mask_contact_data
from consumers.router.tables import Report, WorkOrder
from contracts import WorkOrderStatus
from infra.clock import aware

MAX_QUERY_CHARS = 100
MAX_RESULTS = 20
MIN_STREET_CHARS = 3
OPEN = frozenset(
    {WorkOrderStatus.ISSUED, WorkOrderStatus.ACCEPTED, WorkOrderStatus.PLANNED, WorkOrderStatus.IN_PROGRESS}
)
# Ids as the city's systems write them: letters, digits and - _ . / : only (a LIKE wildcard never reaches a query).
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")


class QueryRefused(Refusal):
    """A query that cannot be looked up as given (too short, too long)."""


@dataclass(frozen=True)
class OrderCase:
    work_order_id: str
    assignee: str
    status: str
    issued_at: dt.datetime
    due_date: dt.date
    updated_at: dt.datetime

    def overdue(self, today: dt.date) -> bool:
        return self.status in OPEN and self.due_date < today


@dataclass(frozen=True)
class ReportCase:
    report_id: str
    filed_at: dt.datetime
    channel: str
    category: str
    district: str | None
    street: str | None
    house_number: str | None
    description: str
    status: str
    closed_at: dt.datetime | None
    orders: tuple[OrderCase, ...]
    # None when the reader may not see them (or the data was erased); `contact_shown` says which.
    reporter_name: str | None
    reporter_phone: str | None
    reporter_email: str | None
    contact_shown: bool

    @property
    def due_date(self) -> dt.date | None:
        """The latest due date of its orders still open (what the caller waits for), else of any order."""
        open_dates = [o.due_date for o in self.orders if o.status in OPEN]
        dates = open_dates or [o.due_date for o in self.orders]
        return max(dates) if dates else None


def _case(report: Report, orders: list[WorkOrder], *, may_see_contact: bool) -> ReportCase:
    description = report.description if may_see_contact else mask_contact_data(report.description, report.reporter_name)
    return ReportCase(
        report_id=report.report_id,
        filed_at=aware(report.filed_at),
        channel=report.channel,
        category=report.category,
        district=report.district,
        street=report.street,
        house_number=report.house_number,
        description=description,
        status=report.status,
        closed_at=None if report.closed_at is None else aware(report.closed_at),
        orders=tuple(
            OrderCase(o.work_order_id, o.assignee, o.status, aware(o.issued_at), o.due_date, aware(o.updated_at))
            for o in sorted(orders, key=lambda o: (o.issued_at, o.assignee))
        ),
        reporter_name=report.reporter_name if may_see_contact else None,
        reporter_phone=report.reporter_phone if may_see_contact else None,
        reporter_email=report.reporter_email if may_see_contact else None,
        contact_shown=may_see_contact,
    )


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped.lower()}%"


async def lookup(session: AsyncSession, query: str, *, may_see_contact: bool) -> list[ReportCase]:
    """Reports whose id is `query`, whose work order's id is `query`, or (else) whose street starts with it."""
    text = " ".join(query.split())
    if len(text) > MAX_QUERY_CHARS:
        raise QueryRefused(f"at most {MAX_QUERY_CHARS} characters", "query_long", max=MAX_QUERY_CHARS)
    if not text:
        return []
    report_ids: list[str] = []
    if _ID.match(text):
        report_ids = list(
            (
                await session.execute(
                    select(Report.report_id).where(
                        or_(
                            Report.report_id == text,
                            Report.report_id.in_(select(WorkOrder.report_id).where(WorkOrder.work_order_id == text)),
                        )
                    )
                )
            ).scalars()
        )
    if not report_ids:
        if len(text) < MIN_STREET_CHARS:
            raise QueryRefused(
                f"give an id, or at least {MIN_STREET_CHARS} letters of a street", "query_short", min=MIN_STREET_CHARS
            )
        report_ids = list(
            (
                await session.execute(
                    select(Report.report_id)
                    .where(func.lower(Report.street).like(_like_prefix(text), escape="\\"))
                    .order_by(Report.filed_at.desc(), Report.report_id)
                    .limit(MAX_RESULTS)
                )
            ).scalars()
        )
    if not report_ids:
        return []
    reports = {
        r.report_id: r
        for r in (await session.execute(select(Report).where(Report.report_id.in_(report_ids)))).scalars()
    }
    orders: dict[str, list[WorkOrder]] = {}
    for order in (await session.execute(select(WorkOrder).where(WorkOrder.report_id.in_(report_ids)))).scalars():
        orders.setdefault(order.report_id, []).append(order)
    cases = [_case(reports[i], orders.get(i, []), may_see_contact=may_see_contact) for i in report_ids if i in reports]
    return sorted(cases, key=lambda c: (c.filed_at, c.report_id), reverse=True)


__all__ = ["MAX_QUERY_CHARS", "MAX_RESULTS", "REDACTED", "OrderCase", "QueryRefused", "ReportCase", "lookup"]

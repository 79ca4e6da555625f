"""A contractor's own page of its work orders (`/contractors/`): what it shows, as rows, and the CSV of the same rows.

Only the assignee's own orders, read from the router's tables, with only what its data policy allows: the place
and the problem, the description with contact data masked (`consumers.router.masking`) unless the assignee may
see it, the reporter only then. Who changed a status is told by channel, never by a member of staff's name. The
CSV has exactly the page's table (without its answer links), so what is exported is what was seen.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from consumers.contractors.rules import OPEN_STATUSES
from consumers.contractors.tables import WorkOrderEvent
from consumers.domain.catalogue import Assignee, Catalogue
from consumers.router.masking import mask_contact_data
from consumers.router.tables import Report, WorkOrder
from contracts import WorkOrderStatus

S = WorkOrderStatus
DUTCH = {
    S.ISSUED: "uitgegeven",
    S.ACCEPTED: "aanvaard",
    S.PLANNED: "ingepland",
    S.IN_PROGRESS: "in uitvoering",
    S.DONE: "afgerond",
    S.REJECTED: "geweigerd",
}
COLUMNS = (
    "Werkbon",
    "Melding",
    "Categorie",
    "Adres",
    "Uiterste datum",
    "Status",
    "Te laat",
    "Omschrijving",
    "Wijzigingen",
)
MAX_ROWS = 2000


def sender_nl(sender: str) -> str:
    """Who changed a status, by channel: a member of staff is 'de stad', never named."""
    via = sender.split(":", 1)[0]
    return {
        "amqp": "via de broker",
        "http": "via de callback",
        "email-link": "via de e-maillink",
        "staff": "door de stad, voor u",
    }.get(via, "door de stad")


@dataclass(frozen=True)
class PageRow:
    work_order_id: str
    status: WorkOrderStatus
    overdue: bool
    cells: tuple[str, ...]  # one per COLUMNS

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES


def _address(report: Report) -> str:
    street = f"{report.street or ''} {report.house_number or ''}".strip() or "(straat onbekend)"
    return f"{street}, {report.postcode or ''} {report.district or ''}".rstrip(" ,")


def _description(report: Report, assignee: Assignee) -> str:
    text = report.description or ""
    if not assignee.may_see_contact:
        return mask_contact_data(text, report.reporter_name)
    contact = ", ".join(v for v in (report.reporter_name, report.reporter_phone, report.reporter_email) if v)
    return f"{text} [melder: {contact}]" if contact else text


async def page_rows(
    session: AsyncSession,
    catalogue: Catalogue,
    assignee: Assignee,
    *,
    today: dt.date,
    tz: ZoneInfo,
    include_closed: bool = False,
    work_order_id: str | None = None,
) -> list[PageRow]:
    """The assignee's orders: open ones (all with `include_closed`), overdue first, then by due date."""
    stmt = (
        select(WorkOrder, Report)
        .join(Report, Report.report_id == WorkOrder.report_id)
        .where(WorkOrder.assignee == assignee.code)
    )
    if not include_closed:
        stmt = stmt.where(WorkOrder.status.in_([s.value for s in OPEN_STATUSES]))
    if work_order_id is not None:
        stmt = stmt.where(WorkOrder.work_order_id == work_order_id)
    stmt = stmt.order_by(WorkOrder.due_date, WorkOrder.work_order_id).limit(MAX_ROWS)
    found = [(order, report) for order, report in await session.execute(stmt)]
    changes: dict[str, list[WorkOrderEvent]] = defaultdict(list)
    ids = [order.work_order_id for order, _ in found]
    for start in range(0, len(ids), 1000):
        events = await session.execute(
            select(WorkOrderEvent)
            .where(WorkOrderEvent.work_order_id.in_(ids[start : start + 1000]))
            .order_by(WorkOrderEvent.id)
        )
        for event in events.scalars():
            changes[event.work_order_id].append(event)
    rows = []
    for order, report in found:
        status = S(order.status)
        overdue = status in OPEN_STATUSES and order.due_date < today
        category = catalogue.category(order.category)
        history = "; ".join(
            f"{_local(e.changed_at, tz)} {DUTCH[S(e.status)]} {sender_nl(e.sender)}"
            + (f" (gepland voor {e.planned_for.isoformat()})" if e.planned_for else "")
            + (f" (reden: {e.reason})" if e.reason else "")
            for e in changes.get(order.work_order_id, [])
        )
        cells = (
            order.work_order_id,
            order.report_id,
            category.name_nl if category is not None else order.category,
            _address(report),
            order.due_date.isoformat(),
            DUTCH[status],
            "ja" if overdue else "nee",
            _description(report, assignee),
            history,
        )
        rows.append(PageRow(order.work_order_id, status, overdue, cells))
    # Overdue first, then the other open ones, then the closed ones; each by due date (the query's order).
    rows.sort(key=lambda r: (not r.overdue, not r.open))
    return rows


def _local(moment: dt.datetime, tz: ZoneInfo) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def to_csv(rows: Sequence[PageRow]) -> str:
    """The page's table as CSV (comma, quoted where needed, UTF-8 with the header row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        # A cell a spreadsheet would run as a formula starts with a quote (CSV injection).
        writer.writerow(["'" + c if c[:1] in ("=", "+", "-", "@") else c for c in row.cells])
    return out.getvalue()

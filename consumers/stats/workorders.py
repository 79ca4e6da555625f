"""The read side of the work orders: where they stand against their SLA in a period, where the reports' work
stands, and what incident folding did, for `hub stats`, the HTTP API and the demo.

Computed from the stored facts (`stat_workorders`, their status changes, `stat_folded_reports`): a status is
known only as of the changes stored, so every figure is "as of" a day. The counted figures and periods are in
`queries`.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from consumers.stats.aggregates import utc
from consumers.stats.queries import Period
from consumers.stats.scope import EVERYTHING, Scope
from consumers.stats.tables import StatFoldedReport, StatReport, StatWorkOrder, StatWorkOrderEvent
from contracts import RecordedStatus, WorkOrderStatus

DONE = WorkOrderStatus.DONE.value
REJECTED = WorkOrderStatus.REJECTED.value
# When two status changes carry the same time, the later step of the life cycle is the current one.
_STATUS_RANK = {status.value: rank for rank, status in enumerate(RecordedStatus)}
MERGED = RecordedStatus.MERGED.value
_FINAL = frozenset({WorkOrderStatus.DONE.value, WorkOrderStatus.REJECTED.value})


@dataclass
class WorkOrderFigures:
    """Work orders issued in a period, as of a day: where they stand against their SLA due date."""

    issued: int = 0
    done: int = 0
    rejected: int = 0
    overdue: int = 0
    done_on_time: int = 0
    completion_hours: list[float] = field(default_factory=list)
    # Per-report orders closed as merged into an incident order: neither open nor overdue, their SLA not decided.
    merged: int = 0
    # Incident orders (one per incident and assignee, in `issued` too), with an SLA of their own.
    incident_orders: int = 0

    @property
    def open(self) -> int:
        return self.issued - self.done - self.rejected - self.merged

    @property
    def sla_compliance(self) -> float | None:
        """Done by the due date, of the orders whose SLA is decided (done, or open past their due date)."""
        decided = self.done + self.overdue
        return self.done_on_time / decided if decided else None

    @property
    def median_completion_hours(self) -> float | None:
        return statistics.median(self.completion_hours) if self.completion_hours else None


@dataclass(frozen=True)
class Order:
    work_order_id: str
    report_id: str
    assignee: str
    category: str
    issued_at: dt.datetime  # the SLA clock's start in event time: the report's filing
    due_date: dt.date
    status: str
    done_at: dt.datetime | None
    incident_id: str | None = None


def current_status(changes: Sequence[tuple[dt.datetime, str]]) -> str:
    """Only applied changes are stored, and done and rejected are final there: a final status is the last one
    applied whatever its (assignee-given, possibly earlier) time; among open statuses (and `merged`, which staff may
    undo) the latest wins."""
    if not changes:
        return "issued"
    return max(changes, key=lambda ch: (ch[1] in _FINAL, ch[0], _STATUS_RANK.get(ch[1], -1)))[1]


async def orders(
    session: AsyncSession, period: Period, scope: Scope = EVERYTHING, *, of_reports_filed: bool = False
) -> list[Order]:
    """Work orders issued in the period (or: of the reports filed in it) that match the scope, with their
    current status and completion."""
    w = StatWorkOrder.__table__.c
    e = StatWorkOrderEvent.__table__.c
    r = StatReport.__table__.c
    joined = StatWorkOrder.__table__.outerjoin(StatWorkOrderEvent.__table__, e.work_order_id == w.work_order_id)
    if of_reports_filed:
        joined = joined.join(StatReport.__table__, r.report_id == w.report_id)
        day = r.local_date
    else:
        day = w.local_date
    stmt = (
        select(
            w.work_order_id,
            w.report_id,
            w.assignee,
            w.category,
            # Event time: the SLA clock starts at the report's filing (the routing's wall clock for older rows).
            func.coalesce(w.filed_at, w.issued_at),
            w.due_date,
            e.status,
            e.changed_at,
            w.incident_id,
        )
        .select_from(joined)
        .where(day >= period.first, day <= period.last, *scope.workorders())
    )
    base: dict[str, tuple[str, str, str, dt.datetime, dt.date, str | None]] = {}
    events: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
    rows = await session.execute(stmt)
    for wid, report_id, assignee, category, issued_at, due_date, status, changed_at, incident_id in rows:
        base[wid] = (report_id, assignee, category, utc(issued_at), due_date, incident_id)
        if status is not None:
            events[wid].append((utc(changed_at), status))
    found = []
    for wid, (report_id, assignee, category, issued_at, due_date, incident_id) in base.items():
        changes = events.get(wid, [])
        # Only applied changes are stored, and done and rejected are final there: a final status is the last one
        # applied whatever its (assignee-given, possibly earlier) time; among open statuses the latest wins.
        status = current_status(changes)
        done_times = [at for at, st in changes if st == DONE]
        done_at = min(done_times) if status == DONE and done_times else None
        found.append(Order(wid, report_id, assignee, category, issued_at, due_date, status, done_at, incident_id))
    return found


def tally_orders(found: Iterable[Order], key: str | None, as_of: dt.date, tz: ZoneInfo) -> dict[str, WorkOrderFigures]:
    """Per value of the `key` attribute (or "" for all): the orders' figures as of `as_of`."""
    out: dict[str, WorkOrderFigures] = defaultdict(WorkOrderFigures)
    for order in found:
        figures = out[getattr(order, key) if key else ""]
        figures.issued += 1
        if order.incident_id is not None:
            figures.incident_orders += 1
        if order.status == MERGED:
            figures.merged += 1
        elif order.status == REJECTED:
            figures.rejected += 1
        elif order.status == DONE and order.done_at is not None:
            figures.done += 1
            figures.completion_hours.append((order.done_at - order.issued_at).total_seconds() / 3600)
            if order.done_at.astimezone(tz).date() <= order.due_date:
                figures.done_on_time += 1
        elif order.due_date < as_of:
            figures.overdue += 1
    return dict(out)


async def workorder_figures(
    session: AsyncSession, period: Period, by: Literal["assignee", "category"] | None, *, tz: ZoneInfo, as_of: dt.date
) -> dict[str, WorkOrderFigures]:
    """Per assignee or category (or "" for all): issued, open, done, overdue as of `as_of`, SLA compliance."""
    return tally_orders(await orders(session, period), by, as_of, tz)


async def report_status_counts(session: AsyncSession, period: Period, scope: Scope = EVERYTHING) -> dict[str, int]:
    """Reports filed in the period (matching the scope) by where their work stands: `open` while any of its work
    orders is open, `done` once all are done or rejected and one is done, `rejected` if all were rejected,
    `no work order`."""
    r = StatReport.__table__.c
    where = [r.local_date >= period.first, r.local_date <= period.last, *scope.reports()]
    reports = set((await session.execute(select(r.report_id).where(*where))).scalars())
    statuses: dict[str, list[str]] = defaultdict(list)
    for order in await orders(session, period, of_reports_filed=True):
        if order.report_id in reports and order.incident_id is None:
            statuses[order.report_id].append(order.status)
    # A folded report's work stands with its incident order; a merged order of its own is not open work.
    for report_id, status in await folded_report_statuses(session, reports):
        statuses[report_id].append(status)
    for states in statuses.values():
        if MERGED in states:
            states[:] = [s for s in states if s != MERGED]
    return classify_reports(reports, statuses)


async def folded_report_statuses(session: AsyncSession, reports: Iterable[str]) -> list[tuple[str, str]]:
    """(report, the current status of the incident order it is folded into), for those of `reports` folded."""
    wanted = sorted(set(reports))
    if not wanted:
        return []
    f = StatFoldedReport.__table__.c
    links: dict[str, set[str]] = defaultdict(set)
    for i in range(0, len(wanted), 5000):
        rows = await session.execute(select(f.report_id, f.work_order_id).where(f.report_id.in_(wanted[i : i + 5000])))
        for report_id, wid in rows:
            links[wid].add(report_id)
    if not links:
        return []
    e = StatWorkOrderEvent.__table__.c
    changes: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
    found = await session.execute(
        select(e.work_order_id, e.changed_at, e.status).where(e.work_order_id.in_(sorted(links)))
    )
    for wid, at, status in found:
        changes[wid].append((utc(at), status))
    out: list[tuple[str, str]] = []
    for wid, report_ids in links.items():
        status = current_status(changes.get(wid, []))
        out.extend((rid, status) for rid in sorted(report_ids))
    return out


async def folding_figures(session: AsyncSession, period: Period) -> dict[str, int]:
    """Reports folded into incident orders, the incident orders, and the per-report orders merged, in the period."""
    r = StatReport.__table__.c
    f = StatFoldedReport.__table__.c
    folded = (
        await session.execute(
            select(func.count(func.distinct(f.report_id)))
            .select_from(StatFoldedReport.__table__.join(StatReport.__table__, r.report_id == f.report_id))
            .where(r.local_date >= period.first, r.local_date <= period.last)
        )
    ).scalar_one()
    figures = tally_orders(await orders(session, period), None, period.last, ZoneInfo("UTC")).get(
        "", WorkOrderFigures()
    )
    return {"reports_folded": int(folded), "incident_orders": figures.incident_orders, "orders_merged": figures.merged}


def classify_reports(report_ids: Iterable[str], statuses: Mapping[str, list[str]]) -> dict[str, int]:
    """Reports by where their work orders stand: open if any is open, else done if any is done, else rejected."""
    counts: dict[str, int] = defaultdict(int)
    for report_id in report_ids:
        states = statuses.get(report_id)
        if not states:
            counts["no work order"] += 1
        elif any(s not in (DONE, REJECTED) for s in states):
            counts["open"] += 1
        elif DONE in states:
            counts["done"] += 1
        else:
            counts["rejected"] += 1
    return dict(counts)

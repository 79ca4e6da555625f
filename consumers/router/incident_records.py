"""What the router's incident folding recorded, for the paths that read it: the reports an incident order stands for,
the open incident order of a report, the incident order a merged per-report order went into, and what folding did
for a set of reports (the demo's and the year's figures)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from consumers.router.tables import IncidentLink, IncidentOrder, WorkOrder

OPEN = ("issued", "accepted", "planned", "in_progress")


async def linked_reports(session: AsyncSession, work_order_id: str) -> list[str]:
    """The reports an incident order stands for (those staff did not take out)."""
    lk = IncidentLink.__table__.c
    rows = await session.execute(
        select(lk.report_id).where(lk.work_order_id == work_order_id, lk.unfolded_at.is_(None)).distinct()
    )
    return sorted(rows.scalars())


async def open_incident_order_of(session: AsyncSession, report_id: str) -> str | None:
    """An open incident order the report is folded into, if any (the report is open while it is)."""
    lk = IncidentLink.__table__.c
    w = WorkOrder.__table__.c
    row = await session.execute(
        select(w.work_order_id)
        .select_from(IncidentLink.__table__.join(WorkOrder.__table__, w.work_order_id == lk.work_order_id))
        .where(lk.report_id == report_id, lk.unfolded_at.is_(None), w.status.in_(OPEN))
        .limit(1)
    )
    return row.scalar_one_or_none()


async def folding_figures(session: AsyncSession, report_ids: Sequence[str]) -> dict[str, int]:
    """What folding did for these reports: reports folded, (report, assignee) links (merged or live), the incident
    orders they went into and the updates those sent."""
    lk = IncidentLink.__table__.c
    links: list[tuple[str, str, str]] = []
    wanted = sorted(set(report_ids))
    for i in range(0, len(wanted), 2000):
        rows = await session.execute(
            select(lk.report_id, lk.how, lk.work_order_id).where(
                lk.report_id.in_(wanted[i : i + 2000]), lk.unfolded_at.is_(None)
            )
        )
        links.extend((r, h, w) for r, h, w in rows)
    orders = sorted({w for _, _, w in links})
    o = IncidentOrder.__table__.c
    updates = 0
    for i in range(0, len(orders), 2000):
        found = await session.execute(select(func.sum(o.seq)).where(o.work_order_id.in_(orders[i : i + 2000])))
        updates += int(found.scalar_one() or 0)
    return {
        "reports_folded": len({r for r, _, _ in links}),
        "links": len(links),
        "merged": sum(1 for _, h, _ in links if h == "merged"),
        "live": sum(1 for _, h, _ in links if h == "live"),
        "incident_orders": len(orders),
        "updates": updates,
    }


async def merged_into(session: AsyncSession, work_order_id: str) -> str | None:
    """The incident order a merged per-report order was folded into (None if it is not, or was taken out)."""
    lk = IncidentLink.__table__.c
    row = await session.execute(
        select(lk.work_order_id)
        .where(lk.merged_work_order_id == work_order_id, lk.unfolded_at.is_(None))
        .order_by(lk.work_order_id)
        .limit(1)
    )
    return row.scalar_one_or_none()

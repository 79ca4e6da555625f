"""GET requests, GET requests/{id} and FixMyStreet's GET servicerequestupdates, from the hub's own tables.

Status comes from the work orders (`work_orders`, `work_order_events`) and the report (`reports.closed_at`);
addresses from the report as the router placed it. Nothing of the reporter is ever read here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.contractors.tables import WorkOrderEvent
from consumers.domain.catalogue import Catalogue
from consumers.open311.tables import Open311Request
from consumers.router.tables import Report, WorkOrder
from infra.db.dialect import chunks

# FixMyStreet's extended states, per applied work-order status.
UPDATE_STATUS = {
    "accepted": "IN_PROGRESS",
    "planned": "ACTION_SCHEDULED",
    "in_progress": "IN_PROGRESS",
    "done": "FIXED",
    "rejected": "FOR_TRIAGE",
}
_NOTES = {
    "accepted": "Aanvaard door {agency}.",
    "planned": "Ingepland door {agency}{planned}.",
    "in_progress": "{agency} is ermee bezig.",
    "done": "Afgewerkt door {agency}.",
    "rejected": "{agency} kan dit niet behandelen: het ContactCenter zoekt wie het wel doet.",
}


@dataclass(frozen=True)
class RequestFilter:
    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    statuses: tuple[str, ...] = ()
    limit: int = 1000


class Requests:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], catalogue: Catalogue, timezone: str) -> None:
        self._sessions = sessions
        self._catalogue = catalogue
        self._tz = ZoneInfo(timezone)

    def _agency(self, code: str) -> str:
        try:
            return self._catalogue.assignee(code).name
        except KeyError:
            return code

    async def find(self, wanted: RequestFilter) -> list[dict[str, Any]]:
        """The requests as the spec's `request` documents, newest first, at most `wanted.limit`."""
        stmt = select(Open311Request)
        if wanted.ids:
            stmt = stmt.where(Open311Request.service_request_id.in_(wanted.ids))
        else:
            if wanted.service_codes:
                stmt = stmt.where(Open311Request.service_code.in_(wanted.service_codes))
            if wanted.start is not None:
                stmt = stmt.where(Open311Request.requested_at >= wanted.start)
            if wanted.end is not None:
                stmt = stmt.where(Open311Request.requested_at <= wanted.end)
        # A status filter is applied after reading (status lives in the reports), so read more, then cut.
        stmt = stmt.order_by(Open311Request.requested_at.desc(), Open311Request.service_request_id)
        async with self._sessions() as session:
            rows = list((await session.execute(stmt.limit(wanted.limit * (4 if wanted.statuses else 1)))).scalars())
            documents = await self._documents(session, rows)
        if wanted.statuses and not wanted.ids:
            documents = [d for d in documents if d["status"] in wanted.statuses]
        return documents[: wanted.limit]

    async def _documents(self, session: AsyncSession, rows: Sequence[Open311Request]) -> list[dict[str, Any]]:
        ids = [r.service_request_id for r in rows]
        reports: dict[str, Any] = {}
        orders: dict[str, list[Any]] = {}
        events: dict[str, list[Any]] = {}
        for chunk in chunks(ids):
            for report in await session.execute(
                select(
                    Report.report_id,
                    Report.street,
                    Report.house_number,
                    Report.postcode,
                    Report.district,
                    Report.closed_at,
                ).where(Report.report_id.in_(chunk))
            ):
                reports[report.report_id] = report
            for order in await session.execute(
                select(
                    WorkOrder.work_order_id,
                    WorkOrder.report_id,
                    WorkOrder.assignee,
                    WorkOrder.status,
                    WorkOrder.due_date,
                    WorkOrder.updated_at,
                )
                .where(WorkOrder.report_id.in_(chunk))
                .order_by(WorkOrder.issued_at, WorkOrder.work_order_id)
            ):
                orders.setdefault(order.report_id, []).append(order)
        by_order = {o.work_order_id: rid for rid, os in orders.items() for o in os}
        order_ids = list(by_order)
        for chunk in chunks(order_ids):
            for event in await session.execute(
                select(
                    WorkOrderEvent.work_order_id,
                    WorkOrderEvent.status,
                    WorkOrderEvent.changed_at,
                    WorkOrderEvent.recorded_at,
                    WorkOrderEvent.note,
                    WorkOrderEvent.planned_for,
                    WorkOrderEvent.id,
                )
                .where(WorkOrderEvent.work_order_id.in_(chunk))
                .order_by(WorkOrderEvent.id)
            ):
                events.setdefault(by_order[event.work_order_id], []).append(event)
        return [
            self._document(
                r,
                reports.get(r.service_request_id),
                orders.get(r.service_request_id, []),
                events.get(r.service_request_id, []),
            )
            for r in rows
        ]

    def _document(self, row: Open311Request, report: Any, orders: list[Any], events: list[Any]) -> dict[str, Any]:
        category = self._catalogue.category(row.service_code)
        agencies = [o.assignee for o in orders]
        agency = " en ".join(dict.fromkeys(self._agency(a) for a in agencies)) if agencies else row.agency_responsible
        due = max((o.due_date for o in orders), default=row.expected_date)
        updated = max([row.requested_at, *(o.updated_at for o in orders), *(e.recorded_at for e in events)])
        notes = None
        if events:
            last = events[-1]
            owner = next((o.assignee for o in orders if o.work_order_id == last.work_order_id), "")
            notes = last.note or self._note(last.status, owner, last.planned_for)
        address = row.address_string
        zipcode = None
        if report is not None:
            zipcode = report.postcode
            street = " ".join(p for p in (report.street, report.house_number) if p)
            place = " ".join(p for p in (report.postcode, report.district) if p)
            address = ", ".join(p for p in (street, place) if p) or address
        return {
            "service_request_id": row.service_request_id,
            "status": "closed" if report is not None and report.closed_at is not None else "open",
            "status_notes": notes,
            "service_name": category.name_nl if category else row.service_code,
            "service_code": row.service_code,
            "description": row.description,
            "agency_responsible": agency,
            "service_notice": row.service_notice,
            "requested_datetime": row.requested_at.astimezone(self._tz),
            "updated_datetime": updated.astimezone(self._tz),
            "expected_datetime": (
                dt.datetime.combine(due, dt.time(23, 59, 59), tzinfo=self._tz) if due is not None else None
            ),
            "address": address,
            "address_id": row.address_id,
            "zipcode": zipcode,
            "lat": row.lat,
            "long": row.lon,
            "media_url": row.media_url,
        }

    def _note(self, status: str, assignee: str, planned: dt.date | None) -> str:
        template = _NOTES.get(status, "Status: {status}.")
        return template.format(
            agency=self._agency(assignee), status=status, planned=f" op {planned.isoformat()}" if planned else ""
        )

    async def token(self, token: str) -> dict[str, Any] | None:
        """Requests here are created in real time: a request's token is its service_request_id."""
        async with self._sessions() as session:
            found = await session.get(Open311Request, token)
        return None if found is None else {"service_request_id": found.service_request_id, "token": token}

    async def updates(self, start: dt.datetime, end: dt.datetime, limit: int) -> list[dict[str, Any]]:
        """One update per applied status change of an Open311 request's work orders, recorded in [start, end].

        A `done` that leaves other work orders of the request open is IN_PROGRESS; the one that closes the
        request is FIXED.
        """
        stmt = (
            select(
                WorkOrderEvent.id,
                WorkOrderEvent.work_order_id,
                WorkOrderEvent.status,
                WorkOrderEvent.changed_at,
                WorkOrderEvent.recorded_at,
                WorkOrderEvent.note,
                WorkOrderEvent.planned_for,
                WorkOrder.assignee,
                WorkOrder.report_id,
                Report.closed_at,
            )
            .join(WorkOrder, WorkOrder.work_order_id == WorkOrderEvent.work_order_id)
            .join(Open311Request, Open311Request.service_request_id == WorkOrder.report_id)
            .join(Report, Report.report_id == WorkOrder.report_id)
            .where(WorkOrderEvent.recorded_at >= start, WorkOrderEvent.recorded_at <= end)
            .order_by(WorkOrderEvent.id)
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = list(await session.execute(stmt))
            closing: dict[str, int] = {}
            report_ids = sorted({r.report_id for r in rows if r.closed_at is not None})
            for chunk in chunks(report_ids):
                # The last final event of a closed request is the one that closed it.
                for found in await session.execute(
                    select(WorkOrder.report_id, WorkOrderEvent.id)
                    .join(WorkOrder, WorkOrder.work_order_id == WorkOrderEvent.work_order_id)
                    .where(WorkOrder.report_id.in_(chunk), WorkOrderEvent.status.in_(["done", "rejected"]))
                ):
                    closing[found.report_id] = max(closing.get(found.report_id, 0), found.id)
        out = []
        for row in rows:
            status = UPDATE_STATUS.get(row.status, "OPEN")
            if row.status == "done" and closing.get(row.report_id) != row.id:
                status = "IN_PROGRESS"
            out.append(
                {
                    "update_id": str(row.id),
                    "service_request_id": row.report_id,
                    "status": status,
                    "updated_datetime": row.changed_at.astimezone(self._tz),
                    "description": row.note or self._note(row.status, row.assignee, row.planned_for),
                    "media_url": None,
                }
            )
        return out

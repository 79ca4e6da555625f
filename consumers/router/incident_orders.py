"""The incident orders and their updates, in the routing transaction: what `incidents` (the folding) decided,
written and announced.

* an incident order is a `WorkOrderIssued` with `incident` set, for the incident's first report's place and SLA
  clock, with the incident's picture and no personal data, on `workorder.issued.<assignee>`;
* its updates are `IncidentOrderUpdated` on `workorder.updated.<assignee>`, when `folding` says one is due (or at
  once when staff unfold a report), each announcing the reports that joined since the last;
* a per-report order merged into an incident order (or back) gets its history row and a `WorkOrderStatusApplied`.

All messages go through the outbox, with the rows that cause them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from consumers.contractors.tables import WorkOrderEvent
from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import Catalogue
from consumers.router import folding
from consumers.router.folding import Linked, LiveIncident
from consumers.router.rules import RoutingDecision
from consumers.router.stored import report_filed
from consumers.router.tables import INCIDENT_KIND, IncidentLink, IncidentOrder, Report, RouterIncident, WorkOrder
from consumers.router.workorders import build_work_orders, insert_work_order, issued_message
from contracts import (
    IncidentOrderDetails,
    IncidentOrderUpdated,
    RecordedStatus,
    ReportFiled,
    WorkOrderStatusApplied,
)
from infra.clock import aware
from infra.db.dialect import insert_ignore
from infra.outbox import Outgoing
from infra.topology import CITY_EVENTS, workorder_updated_routing_key

# The sender recorded in a work order's history for what the folding did to it.
HUB_SENDER = "hub:incident-folding"


@dataclass(frozen=True)
class IncidentOrders:
    """Writes the incident orders and their updates (the folding decides; its locks are taken already)."""

    catalogue: Catalogue
    calendar: CityCalendar
    update_interval: dt.timedelta = dt.timedelta(minutes=30)

    async def issue_own(
        self, session: AsyncSession, filed: ReportFiled, report: Report, assignee: str, now: dt.datetime
    ) -> list[Outgoing]:
        """A report taken out of its incident order gets its own order for this assignee again."""
        decision = RoutingDecision(
            rule_id=report.rule_id,
            rule_line=0,
            assignees=(assignee,),
            reasons=("taken out of its incident order",),
            category_known=report.category_known,
        )
        (order,) = build_work_orders(filed, decision, self.catalogue, self.calendar, now, report.rules_version)
        if not await insert_work_order(session, order, now=now):
            return []
        return [issued_message(order, now)]

    async def due_updates(
        self,
        session: AsyncSession,
        incident: LiveIncident,
        event_at: dt.datetime,
        now: dt.datetime,
        *,
        force: bool = False,
        unfolded: Mapping[str, Sequence[str]] | None = None,
    ) -> list[Outgoing]:
        """The updates due for every incident order of the incident (all of them with `force`: its resolution);
        `unfolded`: per incident order, the reports just taken out of it, named in its update."""
        o = IncidentOrder.__table__.c
        ids = (
            await session.execute(
                select(o.work_order_id).where(o.incident_id == incident.incident_id).order_by(o.work_order_id)
            )
        ).scalars()
        outgoing: list[Outgoing] = []
        for io in list(ids):
            taken_out = (unfolded or {}).get(io, ())
            outgoing.extend(
                await self.refresh(session, incident, io, now=now, event_at=event_at, force=force, unfolded=taken_out)
            )
        return outgoing

    async def refresh(
        self,
        session: AsyncSession,
        incident: LiveIncident,
        io: str,
        *,
        now: dt.datetime,
        event_at: dt.datetime | None = None,
        force: bool = False,
        unfolded: Sequence[str] = (),
    ) -> list[Outgoing]:
        """Issue the incident order if it is new, else count its links and send an update when one is due.

        Long because the first issue and every update read the same links and write the same row, in the
        caller's transaction under the incident key's lock; split, the two halves would each read them again.
        """
        lk = IncidentLink.__table__.c
        rows = list(
            (
                await session.execute(
                    select(IncidentLink)
                    .where(lk.work_order_id == io, lk.unfolded_at.is_(None))
                    .order_by(lk.filed_at, lk.report_id)
                )
            ).scalars()
        )
        linked = [
            Linked(r.report_id, r.street, r.house_number, aware(r.filed_at), r.merged_work_order_id) for r in rows
        ]
        new = [r.report_id for r in rows if not r.announced]
        latest = max((aware(r.filed_at) for r in rows if not r.announced), default=None)
        moment = max(m for m in (event_at, latest, incident.first_seen_at) if m is not None)
        # Read fresh: an earlier step of this transaction may have updated the row (core UPDATE, not the ORM).
        existing = await session.get(IncidentOrder, io, populate_existing=True)
        details = folding.details(incident, linked)
        if existing is None:
            if not rows:
                return []
            assignee = rows[0].assignee
            order = await self._incident_order(session, incident, io, assignee, rows[0].report_id, details, now)
            if order is None:
                return []
            await session.execute(
                insert_ignore(session, IncidentOrder).values(
                    work_order_id=io,
                    incident_id=incident.incident_id,
                    assignee=assignee,
                    reports=details.reports,
                    first_report_at=details.first_report_at,
                    last_report_at=details.last_report_at,
                    seq=0,
                    sent_at=moment,
                    pending=0,
                    updated_at=now,
                )
            )
            await self._announce(session, io)
            return [order]
        status = (await session.execute(select(WorkOrder.status).where(WorkOrder.work_order_id == io))).scalar_one()
        if status == "done" and new:
            # Done already (a report that arrived late, filed in the span): the job it is about is done.
            await session.execute(
                update(Report)
                .where(Report.report_id.in_(new), Report.status != "closed")
                .values(status="closed", closed_at=now)
            )
        values: dict[str, object] = {
            "reports": details.reports,
            "first_report_at": details.first_report_at,
            "last_report_at": details.last_report_at,
            "pending": len(new),
            "updated_at": now,
        }
        outgoing: list[Outgoing] = []
        sent_at = aware(existing.sent_at)
        if unfolded or (new and (force or folding.update_due(sent_at, moment, self.update_interval))):
            seq = existing.seq + 1
            message = IncidentOrderUpdated(
                update_id=folding.update_id(io, seq),
                work_order_id=io,
                assignee=existing.assignee,
                seq=seq,
                updated_at=moment,
                new_report_ids=new[: folding.MAX_REPORT_IDS],
                unfolded_report_ids=list(unfolded),
                incident=details,
            )
            outgoing.append(
                Outgoing.of(
                    message,
                    exchange=CITY_EVENTS.name,
                    routing_key=workorder_updated_routing_key(existing.assignee),
                    message_id=message.update_id,
                    subject=io,
                    time=now,
                )
            )
            values |= {"seq": seq, "sent_at": max(sent_at, moment), "pending": 0}
            await self._announce(session, io)
        await session.execute(update(IncidentOrder).where(IncidentOrder.work_order_id == io).values(**values))
        return outgoing

    async def _announce(self, session: AsyncSession, io: str) -> None:
        lk = IncidentLink.__table__.c
        await session.execute(
            update(IncidentLink).where(lk.work_order_id == io, lk.announced.is_(False)).values(announced=True)
        )

    async def _incident_order(
        self,
        session: AsyncSession,
        incident: LiveIncident,
        io: str,
        assignee: str,
        anchor_id: str,
        details: IncidentOrderDetails,
        now: dt.datetime,
    ) -> Outgoing | None:
        """The incident order: its first report's place and SLA clock, the incident's picture, no personal data."""
        anchor = await session.get(Report, anchor_id)
        assert anchor is not None  # links are made for stored reports only
        filed = report_filed(anchor)
        decision = RoutingDecision(
            rule_id=anchor.rule_id,
            rule_line=0,
            assignees=(assignee,),
            reasons=(f"incident {incident.incident_id}",),
            category_known=anchor.category_known,
        )
        (base,) = build_work_orders(filed, decision, self.catalogue, self.calendar, now, anchor.rules_version)
        category = self.catalogue.category(anchor.category)
        name_nl = category.name_nl if category is not None else anchor.category
        order = base.model_copy(
            update={
                "work_order_id": io,
                "description": folding.summary_nl(details, name_nl),
                "reporter": None,
                "attributes": {k: v for k, v in base.attributes.items() if k == "waste_fraction"},
                "incident": details,
            }
        )
        if not await insert_work_order(session, order, now=now, kind=INCIDENT_KIND):
            return None
        return issued_message(order, now)

    async def set_status(
        self,
        session: AsyncSession,
        order: WorkOrder,
        report: Report,
        status: str,
        at: dt.datetime,
        now: dt.datetime,
        merged_into: str | None,
    ) -> Outgoing:
        """A per-report order merged into its incident order (or back): recorded in its history, and published."""
        previous = order.status
        await session.execute(
            update(WorkOrder)
            .where(WorkOrder.work_order_id == order.work_order_id)
            .values(status=status, updated_at=now)
        )
        session.add(
            WorkOrderEvent(
                work_order_id=order.work_order_id,
                message_id=f"{status}-{order.work_order_id}"[:200],
                previous_status=previous,
                status=status,
                changed_at=at.astimezone(dt.UTC),
                recorded_at=now,
                sender=HUB_SENDER,
                note=f"merged into incident order {merged_into}" if merged_into else "taken out of its incident order",
            )
        )
        applied = WorkOrderStatusApplied(
            work_order_id=order.work_order_id,
            report_id=order.report_id,
            assignee=order.assignee,
            category=order.category,
            waste_fraction=report.waste_fraction,
            district=report.district,
            previous_status=RecordedStatus(previous),
            status=RecordedStatus(status),
            changed_at=at,
            applied_at=now,
            merged_into=merged_into,
        )
        return Outgoing.of(
            applied,
            exchange=CITY_EVENTS.name,
            routing_key=WorkOrderStatusApplied.routing_key,
            message_id=f"{status}-{order.work_order_id}"[:200],
            subject=order.work_order_id,
            time=now,
        )


def live_incident(row: RouterIncident, *, resolved_at: dt.datetime | None = None) -> LiveIncident:
    """A detected incident as the folding rules see it (`resolved_at`: its end, when the row does not have it yet)."""
    assert row.first_seen_at is not None
    end = resolved_at or (aware(row.resolved_at) if row.resolved_at is not None else None)
    return LiveIncident(
        incident_id=row.incident_id,
        category=row.category,
        district=row.district,
        waste_fraction=row.waste_fraction,
        first_seen_at=aware(row.first_seen_at),
        resolved_at=end,
        streets=tuple(json.loads(row.streets or "[]")),
        draft_nl=row.draft_nl or "",
    )

"""The router's decision and effects for one report: store it, issue one work order per assignee."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from consumers.router.rules import RuleSet
from consumers.router.workorders import build_work_orders
from contracts import ReportFiled, WorkOrderIssued
from hub.calendar import CityCalendar
from hub.catalogue import Catalogue
from infra.db.dialect import insert_ignore
from infra.db.models import Report, WorkOrder
from infra.outbox import Outgoing
from infra.topology import CITY_EVENTS, workorder_routing_key


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class RoutingService:
    catalogue: Catalogue
    rules: RuleSet
    calendar: CityCalendar
    clock: Callable[[], dt.datetime] = utcnow

    def work_orders(self, report: ReportFiled) -> list[WorkOrderIssued]:
        decision = self.rules.evaluate(report)
        return build_work_orders(report, decision, self.catalogue, self.calendar, self.clock(), self.rules.version)

    async def apply(self, session: AsyncSession, report: ReportFiled, message_id: str) -> list[Outgoing]:
        """Store the report and its work orders; emit each work order that is new (none on a replay)."""
        decision = self.rules.evaluate(report)
        now = self.clock()
        orders = build_work_orders(report, decision, self.catalogue, self.calendar, now, self.rules.version)
        contact = report.reporter
        loc = report.location
        await session.execute(
            insert_ignore(session, Report).values(
                report_id=report.report_id,
                message_id=message_id,
                filed_at=report.filed_at,
                received_at=now,
                channel=report.channel.value,
                category=report.category,
                category_known=decision.category_known,
                waste_fraction=report.waste_fraction,
                street=loc.street,
                house_number=loc.house_number,
                postcode=loc.postcode,
                district=loc.district,
                lat=loc.lat,
                lon=loc.lon,
                description=report.description,
                reporter_name=contact.name if contact else None,
                reporter_phone=contact.phone if contact else None,
                reporter_email=str(contact.email) if contact and contact.email else None,
                call_id=report.call_id,
                rule_id=decision.rule_id,
                rules_version=self.rules.version,
                status="routed",
            )
        )
        outgoing: list[Outgoing] = []
        for order in orders:
            inserted = await session.execute(
                insert_ignore(session, WorkOrder)
                .values(
                    work_order_id=order.work_order_id,
                    report_id=order.report_id,
                    assignee=order.assignee,
                    category=order.category,
                    status="issued",
                    issued_at=order.issued_at,
                    due_date=order.due_date,
                    rule_id=order.rule_id,
                    includes_contact=order.reporter is not None,
                    updated_at=now,
                )
                .returning(WorkOrder.work_order_id)
            )
            # A report seen before under another message id already has its orders: issue nothing twice.
            if inserted.scalar_one_or_none() is None:
                continue
            outgoing.append(
                Outgoing.of(
                    order,
                    exchange=CITY_EVENTS.name,
                    routing_key=workorder_routing_key(order.assignee),
                    message_id=order.work_order_id,
                    subject=order.report_id,
                    correlation_id=message_id,
                    time=now,
                )
            )
        return outgoing

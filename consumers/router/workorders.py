"""From a routing decision to work orders: one per assignee, with a due date and only the data it may see; an
issued order's row in `work_orders` (`work_order_row`, `insert_work_order`), the one place that writes it; and
`issued_message`, the one way it is published."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import FALLBACK_CATEGORY, Assignee, Catalogue
from consumers.router.masking import REDACTED, mask_contact_data
from consumers.router.rules import RoutingDecision
from consumers.router.tables import REPORT_KIND, WorkOrder
from contracts.base import ReporterContact
from contracts.reports import ReportFiled
from contracts.workorders import WorkOrderIssued
from infra.db.dialect import insert_ignore
from infra.outbox import Outgoing
from infra.topology import CITY_EVENTS, workorder_routing_key

OUTSIDE_CITY_RULE_ID = "outside-city"
"""Rule id of decisions for reports that could not be placed in a district (a point outside the city)."""

# Fixed for ever: changing it would give every existing work order a new id and break deduplication.
WORK_ORDER_NAMESPACE = uuid.UUID("7d1c52a4-4f0b-5d7e-9a38-3c6a2f1b8e90")

__all__ = [
    "REDACTED",
    "build_work_orders",
    "contact_for",
    "description_for",
    "insert_work_order",
    "work_order_id",
    "work_order_row",
]


def work_order_id(report_id: str, assignee: str) -> str:
    """The same report and assignee always give the same id, so a redelivered report issues nothing twice."""
    # Assignee codes never contain "/", so the pair is unambiguous whatever the report id holds.
    return "wo-" + uuid.uuid5(WORK_ORDER_NAMESPACE, f"{report_id}/{assignee}").hex


def contact_for(assignee: Assignee, report: ReportFiled) -> ReporterContact | None:
    """The reporter's contact data if the assignee's data policy allows it and there is any, else None."""
    reporter = report.reporter
    if not assignee.may_see_contact or reporter is None:
        return None
    if reporter.name is None and reporter.phone is None and reporter.email is None:
        return None
    return reporter


def description_for(assignee: Assignee, report: ReportFiled) -> str:
    """The description, with contact data masked for assignees that may not see it.

    Citizens often write "bel me op 0470 12 34 56" in the description itself; withholding only the
    `reporter` field would leak it to a contractor anyway.
    """
    return mask_for(assignee, report, report.description)


def attributes_for(assignee: Assignee, report: ReportFiled) -> dict[str, str | list[str]]:
    """The answers to the category's extra questions, free text masked like the description."""
    return {
        code: [mask_for(assignee, report, v) for v in value]
        if isinstance(value, list)
        else mask_for(assignee, report, value)
        for code, value in report.attributes.items()
    }


def mask_for(assignee: Assignee, report: ReportFiled, text: str) -> str:
    """`text` with contact data masked, unless the assignee may see it."""
    return text if assignee.may_see_contact else mask_contact(report, text)


def mask_contact(report: ReportFiled, text: str) -> str:
    """`text` with e-mail addresses, phone numbers and the reporter's name masked."""
    reporter = report.reporter
    return mask_contact_data(text, reporter.name if reporter is not None else None)


def build_work_orders(
    report: ReportFiled,
    decision: RoutingDecision,
    catalogue: Catalogue,
    calendar: CityCalendar,
    issued_at: dt.datetime,
    rules_version: str,
) -> list[WorkOrderIssued]:
    """One work order per assignee of the decision, in the decision's order.

    An unknown category keeps its code, gets a name that says so and the SLA of the fallback category.
    Raises KeyError if the decision names an assignee the catalogue does not know (a rule set loaded with
    another catalogue), and ValueError for a naive `issued_at`.
    """
    category = catalogue.category(report.category)
    if category is None:
        fallback = catalogue.category(FALLBACK_CATEGORY)
        if fallback is None:  # Catalogue.load refuses this; a hand-built catalogue must not crash the router
            raise KeyError(f"the catalogue has no fallback category '{FALLBACK_CATEGORY}'")
        sla = fallback.sla_working_days
        name_nl = f"Onbekende categorie ({report.category})"
        name_en = f"Unknown category ({report.category})"
    else:
        sla = category.sla_working_days
        name_nl, name_en = category.name_nl, category.name_en
    if issued_at.tzinfo is None:
        raise ValueError("naive issued_at: every time in the hub carries its offset")
    # The SLA clock starts when the citizen filed the report, so a replay (or a late redelivery) gives the
    # same due date as live processing.
    due = calendar.due_date(report.filed_at, sla)
    orders: list[WorkOrderIssued] = []
    for code in decision.assignees:
        assignee = catalogue.assignee(code)
        description = description_for(assignee, report)
        if decision.rule_id == OUTSIDE_CITY_RULE_ID:
            # Triage must see why it got the report: the reason leads the description.
            description = f"[{'; '.join(decision.reasons)}] {description}".strip()
        orders.append(
            WorkOrderIssued(
                work_order_id=work_order_id(report.report_id, code),
                report_id=report.report_id,
                assignee=code,
                category=report.category,
                category_name_nl=name_nl,
                category_name_en=name_en,
                waste_fraction=report.waste_fraction,
                issued_at=issued_at,
                due_date=due,
                sla_working_days=sla,
                report_filed_at=report.filed_at,
                location=report.location,
                description=description[:4000],
                reporter=contact_for(assignee, report),
                rule_id=decision.rule_id,
                rules_version=rules_version,
                attributes=attributes_for(assignee, report),
            )
        )
    return orders


def work_order_row(order: WorkOrderIssued, *, now: dt.datetime, kind: str = REPORT_KIND) -> dict[str, Any]:
    """The `work_orders` row of a newly issued order; `includes_contact` says whether it carries the reporter's
    contact data (what an erasure must reach)."""
    return {
        "work_order_id": order.work_order_id,
        "report_id": order.report_id,
        "assignee": order.assignee,
        "category": order.category,
        "status": "issued",
        "issued_at": order.issued_at,
        "due_date": order.due_date,
        "rule_id": order.rule_id,
        "includes_contact": order.reporter is not None,
        "updated_at": now,
        "kind": kind,
    }


async def insert_work_order(
    session: AsyncSession, order: WorkOrderIssued, *, now: dt.datetime, kind: str = REPORT_KIND
) -> bool:
    """Insert one issued order's row unless its id or (report, assignee, kind) is there; whether it was inserted."""
    stmt = insert_ignore(session, WorkOrder).values(**work_order_row(order, now=now, kind=kind))
    inserted = await session.execute(stmt.returning(WorkOrder.work_order_id))
    return inserted.scalar_one_or_none() is not None


def issued_message(order: WorkOrderIssued, now: dt.datetime, *, correlation_id: str | None = None) -> Outgoing:
    """An issued work order as the hub publishes it: on `workorder.issued.<assignee>`, its id the message's."""
    return Outgoing.of(
        order,
        exchange=CITY_EVENTS.name,
        routing_key=workorder_routing_key(order.assignee),
        message_id=order.work_order_id,
        subject=order.report_id,
        correlation_id=correlation_id,
        time=now,
    )

"""From a routing decision to work orders: one per assignee, with a due date and only the data it may see."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from consumers.router.rules import RoutingDecision
from contracts.base import ReporterContact
from contracts.reports import ReportFiled
from contracts.workorders import WorkOrderIssued
from hub.calendar import CityCalendar
from hub.catalogue import FALLBACK_CATEGORY, Assignee, Catalogue

# Fixed for ever: changing it would give every existing work order a new id and break deduplication.
WORK_ORDER_NAMESPACE = uuid.UUID("7d1c52a4-4f0b-5d7e-9a38-3c6a2f1b8e90")

REDACTED = "[afgeschermd]"
"""What replaces contact data in descriptions sent to assignees that may not see it."""

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Phone numbers as citizens type them: +32 470 12 34 56, 0470/12.34.56, 011701414. Belgian numbers start
# with 0 or +32 and have 9 or 10 digits; `_mask_phone` leaves shorter runs (house numbers) and dates alone.
_PHONE = re.compile(r"(?<![\w+])(?:\+|0)[\d ./-]{7,}\d(?!\w)")
_DATE = re.compile(r"(?<!\d)(?:0?[1-9]|[12]\d|3[01])([./-])(?:0?[1-9]|1[0-2])\1(?:19|20)\d{2}(?!\d)")
_MIN_PHONE_DIGITS = 9
_MAX_PHONE_DIGITS = 15
# Shorter name parts are particles (van, de, der, le) or initials: masking them would mangle the text.
_MIN_NAME_PART = 4


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
    text = report.description
    if assignee.may_see_contact:
        return text
    text = _EMAIL.sub(REDACTED, text)
    text = _mask_phones(text)
    reporter = report.reporter
    if reporter is not None and reporter.name:
        for name in sorted({reporter.name, *reporter.name.split()}, key=len, reverse=True):
            if len(name.strip(".")) >= _MIN_NAME_PART:
                text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", REDACTED, text, flags=re.IGNORECASE)
    return text


def _mask_phone(found: re.Match[str]) -> str:
    candidate = found.group(0)
    digits = sum(ch.isdigit() for ch in candidate)
    return REDACTED if _MIN_PHONE_DIGITS <= digits <= _MAX_PHONE_DIGITS else candidate


def _mask_phones(text: str) -> str:
    # Dates are cut out first: "05/03/2021 0470123456" must not read as one long number and slip through.
    parts: list[str] = []
    position = 0
    for date in _DATE.finditer(text):
        parts.append(_PHONE.sub(_mask_phone, text[position : date.start()]))
        parts.append(date.group(0))
        position = date.end()
    parts.append(_PHONE.sub(_mask_phone, text[position:]))
    return "".join(parts)


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
                location=report.location,
                description=description_for(assignee, report),
                reporter=contact_for(assignee, report),
                rule_id=decision.rule_id,
                rules_version=rules_version,
            )
        )
    return orders

"""The Dutch `service_notice` of an accepted request: who will handle it, and by when."""

from __future__ import annotations

import datetime as dt

from consumers.domain.calendar import dutch_date
from consumers.domain.catalogue import TRIAGE
from consumers.router.handler import RoutingService
from contracts import ReportFiled


def service_notice(routing: RoutingService, report: ReportFiled) -> tuple[str, str, dt.date | None]:
    """(notice, agency names, due date) as the router will decide: its decision is pure and deterministic."""
    orders = routing.work_orders(report)
    names = [routing.catalogue.assignee(o.assignee).name for o in orders]
    agencies = " en ".join(names) if len(names) <= 2 else ", ".join(names[:-1]) + " en " + names[-1]
    due = max((o.due_date for o in orders), default=None)
    if not orders:
        return "Uw melding is ontvangen.", "", None
    if [o.assignee for o in orders] == [TRIAGE]:
        notice = f"Uw melding is ontvangen; {agencies} bekijkt wie ze behandelt."
    else:
        notice = f"Uw melding is doorgegeven aan {agencies}."
    if due is not None:
        notice += f" Verwacht uiterlijk {dutch_date(due)}."
    return notice, agencies, due

"""Explain offline where a report would be routed and why: no broker, no database (`hub route --explain`)."""

from __future__ import annotations

import datetime as dt

from pydantic import ValidationError

from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import Catalogue
from consumers.domain.places import PlaceFinder
from consumers.router.folding import Candidate, LiveIncident
from consumers.router.handler import RoutingService
from consumers.router.incidents import IncidentFolding
from consumers.router.rules import RuleSet
from consumers.router.workorders import build_work_orders, contact_for, description_for
from contracts.reports import ReportFiled
from contracts.spikes import SpikeDetected


class ExplainError(ValueError):
    """The input is not a valid ReportFiled; `errors` has one line per problem (field path and message)."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("not a valid ReportFiled message:\n" + "\n".join(f"  - {e}" for e in errors))


def parse_report(report_json: bytes | str) -> ReportFiled:
    """Parse a ReportFiled from JSON; raise ExplainError listing every validation problem."""
    try:
        return ReportFiled.model_validate_json(report_json)
    except ValidationError as exc:
        raise ExplainError(_validation_errors(exc)) from None


def _validation_errors(exc: ValidationError) -> list[str]:
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in error["loc"]) or "(message)"
        line = f"{path}: {error['msg']}"
        value = error.get("input")
        # Echo a wrong scalar to help fix it, but never a reporter's personal data.
        if isinstance(value, str | int | float) and not path.startswith("reporter") and error["type"] != "json_invalid":
            shown = repr(value)
            line += f" (got {shown[:60]}{'...' if len(shown) > 60 else ''})"
        lines.append(line)
    return lines


def _days(n: int) -> str:
    return f"{n} working day" if n == 1 else f"{n} working days"


def explain_report(
    report_json: bytes | str,
    catalogue: Catalogue,
    rules: RuleSet,
    calendar: CityCalendar,
    issued_at: dt.datetime | None = None,
    places: PlaceFinder | None = None,
    incident_json: bytes | str | None = None,
) -> str:
    """A human-readable account of the routing of one report; raises ExplainError for an invalid report.

    Without `issued_at` the work orders are dated as if issued when the report was filed, so the output of
    one file is the same every time it is explained.
    Long because it is the text of the explanation, section after section, in the order it is printed.
    """
    report = parse_report(report_json)
    issued = issued_at if issued_at is not None else report.filed_at
    # A point without a district is placed first, as the router does (see RoutingService.decide).
    report, decision = RoutingService(catalogue, rules, calendar, places=places).decide(report)
    category = catalogue.category(report.category)
    out: list[str] = []

    name = f' "{category.name_nl}" / "{category.name_en}"' if category else " (not in the catalogue)"
    out.append(f"Report {report.report_id} via {report.channel.value}: category {report.category}{name}")
    state = "ContactCenter open" if calendar.is_open(report.filed_at) else "ContactCenter closed"
    holiday = calendar.holiday_name(calendar.local(report.filed_at).date())
    if holiday:
        state += f", public holiday: {holiday}" if holiday != "closed" else ", city closed"
    out.append(f"Filed {calendar.when(report.filed_at)} ({state})")
    location = report.location
    out.append(
        f"Where: {location.street or '(no street)'} {location.house_number or ''}".rstrip()
        + f", {location.postcode or '(no postcode)'} {location.district or '(no district)'}"
        + (
            f" ({location.lat:.5f}, {location.lon:.5f})"
            if location.lat is not None and location.lon is not None
            else ""
        )
    )
    out.append(f"Rules version {rules.version}" + (f" ({rules.source})" if rules.source else ""))
    out.append(f"Catalogue: categories {catalogue.categories_version}, assignees {catalogue.assignees_version}")
    out.append("")

    steps = rules.trace(report)
    if steps:
        out.append("Rules tried, in order:")
        for step in steps:
            mark = "MATCH" if step.matched else "skip "
            detail = "" if step.matched else f": {step.detail}"
            out.append(f"  {mark} {step.rule_id} (line {step.rule_line}){detail}")
        out.append("")

    rule = rules.rule(decision.rule_id)
    if rule is not None:
        out.append(f"Matched rule '{rule.id}' (line {rule.line}): {rule.description}")
    else:
        out.append(f"No rule of the file applies ({decision.rule_id})")
    out.append("Why:")
    out.extend(f"  - {reason}" for reason in decision.reasons)
    out.append("")

    orders = build_work_orders(report, decision, catalogue, calendar, issued, rules.version)
    noun = "work order" if len(orders) == 1 else "work orders"
    out.append(f"{len(orders)} {noun}, issued {calendar.when(issued)}:")
    for order in orders:
        assignee = catalogue.assignee(order.assignee)
        out.append(f"  - {assignee.code}: {assignee.name} ({assignee.kind})")
        if assignee.channel == "webhook":
            target = f"webhook {assignee.webhook_url}"
        elif assignee.channel == "email":
            target = f"e-mail {assignee.email}"
        else:
            target = f"queue {assignee.queue}"
        out.append(f"      channel: {target}")
        out.append(
            f"      due: {order.due_date.isoformat()} ({_days(order.sla_working_days)}), "
            f"acknowledge within {assignee.ack_hours:g} h"
        )
        if report.reporter is None:
            contact = "none (the report has no contact data)"
        elif contact_for(assignee, report) is not None:
            contact = "included (data policy allows it)"
        else:
            contact = "withheld (data policy: may not see the reporter's contact data)"
        out.append(f"      contact data: {contact}")
        if description_for(assignee, report) != report.description:
            out.append("      description: contact data in the text masked")
        out.append(f"      work order id: {order.work_order_id}")
    out.append("")
    out.extend(_folding(report, catalogue, calendar, places, incident_json))
    return "\n".join(out) + "\n"


def _folding(
    report: ReportFiled,
    catalogue: Catalogue,
    calendar: CityCalendar,
    places: PlaceFinder | None,
    incident_json: bytes | str | None,
) -> list[str]:
    """Whether the report would fold into a live incident's order, by the category's `fold` rule."""
    category = catalogue.category(report.category)
    rule = category.fold if category is not None else None
    if rule is None:
        return [f"Incident folding: category {report.category} does not fold (no `fold` in categories.yaml)."]
    folding = IncidentFolding(catalogue, calendar, places=places)
    candidate = Candidate.of(report)
    out = ["Incident folding: the category folds. While an incident of it is live in the report's district, the"]
    out.append("report joins that incident's one order per assignee instead of getting its own, unless:")
    out.append("  - it names another waste fraction than the incident's;")
    if rule.keep_keywords:
        out.append(f"  - its description names one of: {', '.join(rule.keep_keywords)};")
    if rule.max_distance_m is not None:
        out.append(f"  - it lies more than {rule.max_distance_m:,.0f} m from the incident's streets (places.yaml).")
    text = report.description.casefold()
    kept = [word for word in rule.keep_keywords if word in text]
    if kept:
        out.append(f"This report keeps its own order in any incident: its description says '{kept[0]}'.")
    if incident_json is None:
        return out
    try:
        spike = SpikeDetected.model_validate_json(incident_json)
    except ValidationError as exc:
        raise ExplainError(_validation_errors(exc)) from None
    incident = LiveIncident(
        incident_id=spike.incident_id,
        category=spike.category,
        district=spike.district,
        waste_fraction=spike.waste_fraction,
        first_seen_at=spike.first_seen_at,
        resolved_at=None,
        streets=tuple(dict.fromkeys([*([spike.street] if spike.street else []), *spike.affected_streets])),
    )
    verdict = folding.verdict(candidate, incident)
    if verdict.fold:
        out.append(
            f"With incident {spike.incident_id}: FOLDS: {verdict.reason}; each work order above becomes a part "
            "of the incident's order for that assignee (no order of its own)."
        )
    else:
        out.append(f"With incident {spike.incident_id}: keeps its own order: {verdict.reason}.")
    return out

"""Folding a live incident's reports into one work order per assignee: the pure rules (no I/O).

While an incident is live (from its `spike.detected` until its `spike.resolved`, in event time) a report of its
category and district that was filed within its span folds into the incident order of each of its assignees,
instead of getting an order of its own, unless the category does not opt in (`fold` in categories.yaml) or the
report says it is something else: another waste fraction, a word of the category's `keep_keywords` in its
description, or a place farther than `max_distance_m` from the incident's streets. Everything here depends on the
report and the incident's detection only (never on which reports came first), so two router replicas and a replay
of the year fold the same reports into the same orders.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from consumers.domain.catalogue import FoldRule
from contracts import IncidentAddress, IncidentOrderDetails, IncidentStreet, ReportFiled

# Fixed for ever: an incident order's id must be the same on every replica and in every replay.
INCIDENT_ORDER_NAMESPACE = uuid.UUID("5b8e2f7a-1c3d-5e4f-8a9b-0c1d2e3f4a5b")

MAX_ADDRESSES = 500
MAX_REPORT_IDS = 1000

# Metres from a report (its point or street) to the nearest of some streets of a district; None when unknown.
Distance = Callable[[str, Sequence[str], str | None, tuple[float, float] | None], float | None]


def incident_order_id(incident_id: str, assignee: str) -> str:
    """One order per incident and assignee: the same id on every replica and in every replay."""
    return "io-" + uuid.uuid5(INCIDENT_ORDER_NAMESPACE, f"{incident_id}/{assignee}").hex


def update_id(work_order_id: str, seq: int) -> str:
    return f"{work_order_id}/update/{seq}"


@dataclass(frozen=True)
class Candidate:
    """What the rules look at in a report (from a `ReportFiled` or a stored report row)."""

    report_id: str
    category: str
    district: str | None
    street: str | None
    house_number: str | None
    lat: float | None
    lon: float | None
    waste_fraction: str | None
    description: str
    filed_at: dt.datetime

    @classmethod
    def of(cls, report: ReportFiled) -> Candidate:
        loc = report.location
        return cls(
            report.report_id,
            report.category,
            loc.district,
            loc.street,
            loc.house_number,
            loc.lat,
            loc.lon,
            report.waste_fraction,
            report.description,
            report.filed_at,
        )


@dataclass(frozen=True)
class LiveIncident:
    """An incident as the router knows it: key, span in event time (open while not resolved), detection streets."""

    incident_id: str
    category: str
    district: str
    waste_fraction: str | None
    first_seen_at: dt.datetime
    resolved_at: dt.datetime | None
    streets: tuple[str, ...]
    draft_nl: str = ""

    @property
    def key(self) -> str:
        return f"{self.category}|district:{self.district}"

    def spans(self, moment: dt.datetime) -> bool:
        return self.first_seen_at <= moment and (self.resolved_at is None or moment <= self.resolved_at)


@dataclass(frozen=True)
class Verdict:
    fold: bool
    reason: str


def verdict(candidate: Candidate, incident: LiveIncident, rule: FoldRule | None, distance: Distance | None) -> Verdict:
    """Whether the report folds into the incident's orders, and why (the words `hub route --explain` shows)."""
    if rule is None:
        return Verdict(False, f"category {candidate.category} does not fold (no `fold` in categories.yaml)")
    if candidate.category != incident.category or candidate.district != incident.district:
        return Verdict(False, f"not incident {incident.incident_id}'s category and district ({incident.key})")
    if not incident.spans(candidate.filed_at):
        return Verdict(False, f"filed at {candidate.filed_at.isoformat()}, outside incident {incident.incident_id}")
    if incident.waste_fraction and candidate.waste_fraction and candidate.waste_fraction != incident.waste_fraction:
        return Verdict(
            False, f"waste fraction {candidate.waste_fraction}, the incident is about {incident.waste_fraction}"
        )
    text = candidate.description.casefold()
    for word in rule.keep_keywords:
        if word in text:
            return Verdict(False, f"the description says '{word}': something else than the incident")
    if rule.max_distance_m is not None and distance is not None and incident.streets:
        point = (candidate.lat, candidate.lon) if candidate.lat is not None and candidate.lon is not None else None
        metres = distance(incident.district, incident.streets, candidate.street, point)
        if metres is not None and metres > rule.max_distance_m:
            return Verdict(
                False,
                f"{candidate.street or 'its point'} is {metres:,.0f} m from the incident's streets "
                f"(more than {rule.max_distance_m:,.0f} m): elsewhere in {incident.district}",
            )
        if metres is not None:
            return Verdict(True, f"filed during incident {incident.incident_id}, {metres:,.0f} m from its streets")
    return Verdict(True, f"filed during incident {incident.incident_id} ({incident.key})")


def choose(incidents: Iterable[LiveIncident], candidate: Candidate) -> LiveIncident | None:
    """The incident whose span holds the report's filing (the latest-starting one if two overlap)."""
    spanning = [
        i
        for i in incidents
        if i.category == candidate.category and i.district == candidate.district and i.spans(candidate.filed_at)
    ]
    return max(spanning, key=lambda i: (i.first_seen_at, i.incident_id)) if spanning else None


@dataclass(frozen=True)
class Linked:
    """One folded report, as an incident order lists it."""

    report_id: str
    street: str | None
    house_number: str | None
    filed_at: dt.datetime
    merged_work_order_id: str | None = None


def details(incident: LiveIncident, links: Sequence[Linked]) -> IncidentOrderDetails:
    """The incident order's picture: streets and addresses with their counts, first and last report, the draft."""
    ordered = sorted(links, key=lambda link: (link.filed_at, link.report_id))
    streets = Counter(link.street for link in ordered if link.street)
    addresses = Counter((link.street, link.house_number or None) for link in ordered if link.street)
    first = ordered[0].filed_at if ordered else incident.first_seen_at
    last = ordered[-1].filed_at if ordered else incident.first_seen_at
    return IncidentOrderDetails(
        incident_id=incident.incident_id,
        incident_key=incident.key,
        district=incident.district,
        reports=len(ordered),
        streets=[IncidentStreet(street=s, reports=n) for s, n in sorted(streets.items(), key=lambda x: (-x[1], x[0]))],
        addresses=[
            IncidentAddress(street=s, house_number=h, reports=n)
            for (s, h), n in sorted(addresses.items(), key=lambda x: (-x[1], x[0][0] or "", x[0][1] or ""))
            if s is not None
        ][:MAX_ADDRESSES],
        first_report_at=first,
        last_report_at=last,
        report_ids=[link.report_id for link in ordered][:MAX_REPORT_IDS],
        merged_work_order_ids=sorted(link.merged_work_order_id for link in ordered if link.merged_work_order_id),
        draft_nl=incident.draft_nl,
    )


def summary_nl(details: IncidentOrderDetails, category_name_nl: str) -> str:
    """The incident order's description: one job for all these reports, in Dutch, without personal data."""
    streets = ", ".join(f"{s.street} ({s.reports})" for s in details.streets[:20]) or "straat onbekend"
    text = (
        f"[Incident {details.incident_id}] {category_name_nl} in {details.district}: {details.reports} "
        f"melding(en) in één opdracht, straten: {streets}."
    )
    if details.merged_work_order_ids:
        text += f" Vervangt {len(details.merged_work_order_ids)} eerdere werkbon(nen) (samengevoegd)."
    if details.draft_nl:
        text += f"\n{details.draft_nl}"
    return text[:4000]


def update_due(sent_at: dt.datetime, event_at: dt.datetime, interval: dt.timedelta) -> bool:
    """At most one update per interval of event time (a replay at full speed sends what the live year sent)."""
    return event_at >= sent_at + interval


# The timer sends an update only for an order that is live on the wall clock: its latest report at most the
# interval and this much old. A replay's reports are years old: there the messages alone decide, as the live day's
# did, so a replay at full speed sends the updates the live day sent and no more.
TIMER_LIVE_LAG = dt.timedelta(minutes=15)


def timer_update_due(
    sent_at: dt.datetime, last_report_at: dt.datetime, now: dt.datetime, interval: dt.timedelta
) -> bool:
    """The router's timer, when no further message came: reports joined since the last message (the caller's
    `pending`), the interval has passed since it on the wall clock, and the order is live (`TIMER_LIVE_LAG`)."""
    return now >= sent_at + interval and now - last_report_at <= interval + TIMER_LIVE_LAG

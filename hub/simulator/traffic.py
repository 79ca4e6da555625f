"""Pure, deterministic generator of contact-center traffic: calls, reports and planted incidents.

No I/O besides reading the profile, no clock, no global random state: the same seed and arguments always
give the same events with the same ids, so a benchmark run can be repeated and compared.

The model, in short:
  * Phone calls land in the ContactCenter's opening hours only. The calls of a run are spread over its
    opening hours in proportion to a weight (weekday x hour x month x boosts, see `simulation.yaml`); the
    total is exact, so a simulated 2021 has exactly the 30,080 calls of the seed text.
  * A `report` call that ends `report_filed` files a phone report linked both ways (call <-> report).
    Web/app/e-mail reports come on top, at any hour of any day.
  * Incidents are bursts of calls and reports about one category in one district, which drop after the
    communication team's broadcast; their calls count towards the exact total.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid
from itertools import accumulate

from consumers.domain.calendar import CityCalendar
from contracts import (
    CallLogged,
    Location,
    ReportFiled,
)
from hub.simulator.events import PlantedIncident, Scenario, SimEvent
from hub.simulator.generator import Generator
from hub.simulator.profile import SIMULATOR_NAMESPACE, TrafficProfile, load_calendar, load_profile
from hub.simulator.slots import (
    PlannedCall,
    PlannedIncident,
    PlannedReport,
    day_range,
    epoch_seconds,
    expected_calls,
    expected_online_reports,
    online_hour_slots,
    opening_hour_slots,
)


def _run_tag(seed: int, start: dt.date, days: int, calls_total: int, incidents: int, version: str) -> str:
    """Six hex digits naming a run: ids stay unique when several runs go into the same hub."""
    key = f"{seed}|{start.isoformat()}|{days}|{calls_total}|{incidents}|{version}"
    return hashlib.sha256(key.encode()).hexdigest()[:6]


def simulate(
    *,
    start: dt.date,
    days: int,
    seed: int = 2021,
    profile: TrafficProfile | None = None,
    calendar: CityCalendar | None = None,
    calls_total: int | None = None,
    incidents: int | None = None,
) -> Scenario:
    """Simulate `days` days of traffic from `start` (local midnight to local midnight, Europe/Brussels).

    `calls_total` defaults to the profile's yearly rate for the range; `incidents` to its yearly number
    scaled to the range (rounded, so a week usually has none: ask for them). The result is deterministic.
    Long because it checks its arguments and then lays out the run step by step (calls, reports, incidents) in the order the random stream must be drawn: a reordering changes every id.
    """
    if days < 1:
        raise ValueError("days must be >= 1")
    if calls_total is not None and calls_total < 0:
        raise ValueError("calls_total must be >= 0")
    if incidents is not None and incidents < 0:
        raise ValueError("incidents must be >= 0")
    profile = profile or load_profile()
    calendar = calendar or load_calendar()
    tz = calendar.tz
    usual_calls = expected_calls(profile, calendar, start, days)
    if calls_total is None:
        calls_total = usual_calls
    if incidents is None:
        year_days = (dt.date(profile.reference_year + 1, 1, 1) - dt.date(profile.reference_year, 1, 1)).days
        incidents = round(profile.incidents.per_year * days / year_days)
    # Separate streams per phase: changing the incidents does not reshuffle every background detail.
    gen = Generator(profile, calendar, random.Random(f"{seed}/incidents"))

    slots = opening_hour_slots(profile, calendar, day_range(start, days))
    if calls_total and not slots:
        raise ValueError(f"the ContactCenter is closed all of {start} + {days} days: no room for {calls_total} calls")
    open_hours = {
        day: (
            epoch_seconds(dt.datetime.combine(day, calendar.opening_hours[day.weekday()][0], tzinfo=tz)),
            epoch_seconds(dt.datetime.combine(day, calendar.opening_hours[day.weekday()][1], tzinfo=tz)),
        )
        for day in day_range(start, days)
        if calendar.is_open_day(day)
    }

    planned: list[PlannedIncident] = []
    taken: set[tuple[str, str, dt.date]] = set()
    for kind in gen.kinds_for(incidents):
        incident = gen.plan_incident(kind, start, days, taken)
        if incident is not None:
            gen.incident_traffic(incident, open_hours)
            planned.append(incident)
    _fit_incident_calls(planned, calls_total)

    calls: list[PlannedCall] = [call for incident in planned for call in incident.calls]
    reports: list[PlannedReport] = [report for incident in planned for report in incident.reports]

    # Background calls: exactly the rest of the total, each in an opening hour drawn by weight.
    gen.rng = random.Random(f"{seed}/calls")
    background = calls_total - len(calls)
    if background:
        cum = list(accumulate(slot.weight for slot in slots))
        for slot in gen.rng.choices(slots, cum_weights=cum, k=background):
            call = gen.background_call(slot)
            calls.append(call)
            if call.report is not None:
                reports.append(call.report)

    # Online reports: the profile's share of all reports, at any hour of any day (so also on closed days).
    # They follow the yearly rate, scaled with the calls when the caller asked for more or fewer than usual.
    gen.rng = random.Random(f"{seed}/online")
    load = calls_total / usual_calls if usual_calls and calls_total else 1.0
    online = expected_online_reports(profile, calendar, start, days, load=load)
    if online:
        online_slots = online_hour_slots(profile, calendar, start, days)
        cum = list(accumulate(slot.weight for slot in online_slots))
        reports.extend(gen.online_report(slot) for slot in gen.rng.choices(online_slots, cum_weights=cum, k=online))

    tag = _run_tag(seed, start, days, calls_total, incidents, profile.version)
    return _assemble(calls, reports, planned, tag=tag, start=start, days=days, seed=seed, tz=calendar.tz)


def _fit_incident_calls(planned: list[PlannedIncident], calls_total: int) -> None:
    """Incident calls count towards the exact total: if they alone exceed it, drop the latest ones."""
    everything = sorted(
        ((call.started, i, j) for i, incident in enumerate(planned) for j, call in enumerate(incident.calls)),
        reverse=True,
    )
    excess = len(everything) - calls_total
    if excess <= 0:
        return
    drop = {(i, j) for _, i, j in everything[:excess]}
    for i, incident in enumerate(planned):
        dropped = [call for j, call in enumerate(incident.calls) if (i, j) in drop]
        incident.calls = [call for j, call in enumerate(incident.calls) if (i, j) not in drop]
        gone = {id(call.report) for call in dropped if call.report is not None}
        incident.reports = [report for report in incident.reports if id(report) not in gone]


def _assemble(
    calls: list[PlannedCall],
    reports: list[PlannedReport],
    planned: list[PlannedIncident],
    *,
    tag: str,
    start: dt.date,
    days: int,
    seed: int,
    tz: dt.tzinfo,
) -> Scenario:
    """Order everything by event time, number the ids in that order, and build the contract messages.

    Long because it is one pass in event order: ids are numbered in that order, so splitting it would make the numbering depend on how the pieces are called.
    """
    # A call is logged when it ends; its report was filed during it, so the report comes first.
    timeline: list[tuple[int, int, int, PlannedCall | PlannedReport]] = [
        (c.ended, 1, n, c) for n, c in enumerate(calls)
    ]
    timeline += [(r.filed, 0, n, r) for n, r in enumerate(reports)]
    timeline.sort(key=lambda item: item[:3])

    year = start.year
    call_no = report_no = 0
    for _, _, _, record in timeline:
        if isinstance(record, PlannedCall):
            call_no += 1
            record.call_id = f"call-{year}-{tag}-{call_no:06d}"
        else:
            report_no += 1
            record.report_id = f"rep-{year}-{tag}-{report_no:06d}"

    namespace = uuid.uuid5(SIMULATOR_NAMESPACE, tag)
    events: list[SimEvent] = []
    for moment, _, _, record in timeline:
        at = dt.datetime.fromtimestamp(moment, tz)
        message: CallLogged | ReportFiled
        if isinstance(record, PlannedCall):
            message = CallLogged(
                call_id=record.call_id,
                started_at=dt.datetime.fromtimestamp(record.started, tz),
                duration_seconds=record.duration,
                topic=record.topic,
                subject=record.subject,
                outcome=record.outcome,
                district=record.district,
                related_report_id=record.report.report_id if record.report else None,
                agent_id=f"agent-{record.agent}" if record.agent is not None else None,
            )
            key = message.call_id
        else:
            district = record.district
            message = ReportFiled(
                report_id=record.report_id,
                filed_at=at,
                channel=record.channel,
                category=record.category,
                waste_fraction=record.fraction,
                location=Location(
                    street=record.street,
                    house_number=record.house_number,
                    postcode=record.postcode,
                    district=district,
                ),
                description=record.description,
                reporter=record.reporter,
                call_id=record.call.call_id if record.call else None,
            )
            key = message.report_id
        events.append(
            SimEvent(at=at, routing_key=message.routing_key, message=message, event_id=str(uuid.uuid5(namespace, key)))
        )

    incidents = [
        PlantedIncident(
            incident_id=f"planted-{year}-{tag}-{n:03d}-{incident.kind}",
            kind=incident.kind,
            category=incident.spec.category,
            waste_fraction=incident.fraction,
            district=incident.district,
            streets=incident.streets,
            started_at=dt.datetime.fromtimestamp(incident.started, tz),
            broadcast_at=dt.datetime.fromtimestamp(incident.broadcast, tz) if incident.broadcast is not None else None,
            ended_at=dt.datetime.fromtimestamp(incident.ended, tz),
            calls=len(incident.calls),
            reports=len(incident.reports),
            call_ids=tuple(sorted(call.call_id for call in incident.calls)),
            report_ids=tuple(sorted(report.report_id for report in incident.reports)),
        )
        for n, incident in enumerate(sorted(planned, key=lambda p: p.started), start=1)
    ]
    return Scenario(events=events, incidents=incidents, seed=seed, start=start, days=days)


def simulate_year(
    year: int,
    *,
    seed: int = 2021,
    calls_total: int = 30_080,
    incidents: int = 12,
    profile: TrafficProfile | None = None,
    calendar: CityCalendar | None = None,
) -> Scenario:
    """A whole calendar year: by default the 30,080 calls of 2021 with a dozen planted incidents."""
    days = (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days
    return simulate(
        start=dt.date(year, 1, 1),
        days=days,
        seed=seed,
        profile=profile,
        calendar=calendar,
        calls_total=calls_total,
        incidents=incidents,
    )


def describe(scenario: Scenario) -> str:
    """A plain-text summary for the CLI: calls by topic and outcome, reports by category and channel, incidents."""
    counts = scenario.counts()
    calls, reports = counts["calls"], counts["reports"]

    def share(n: int, of: int) -> str:
        return f"{n:>7,}  {100 * n / of:5.1f}%" if of else f"{n:>7,}"

    def section(prefix: str, of: int) -> list[str]:
        items = sorted(
            ((k.removeprefix(prefix), v) for k, v in counts.items() if k.startswith(prefix)), key=lambda kv: -kv[1]
        )
        return [f"    {name:<28}{share(n, of)}" for name, n in items]

    lines = []
    if scenario.start is not None and scenario.days is not None:
        end = scenario.start + dt.timedelta(days=scenario.days - 1)
        lines.append(f"Simulated {scenario.start} .. {end} ({scenario.days} days, seed {scenario.seed})")
    if scenario.events:
        first, last = scenario.events[0].at, scenario.events[-1].at
        lines.append(f"  events {len(scenario.events):,}: {first.isoformat()} .. {last.isoformat()}")
    open_days = len({e.message.started_at.date() for e in scenario.events if isinstance(e.message, CallLogged)})
    per_day = f", {calls / open_days:.0f} per opening day" if open_days else ""
    lines.append(f"  calls {calls:,}{per_day}")
    lines.append("   by topic")
    lines += section("calls.topic.", calls)
    lines.append("   by outcome")
    lines += section("calls.outcome.", calls)
    lines.append(f"  reports {reports:,} ({counts.get('reports.with_contact', 0):,} with contact data)")
    lines.append("   by category")
    lines += section("reports.category.", reports)
    lines.append("   by channel")
    lines += section("reports.channel.", reports)
    lines.append(
        f"  incidents {len(scenario.incidents)}"
        f" ({counts.get('incidents.calls', 0):,} calls, {counts.get('incidents.reports', 0):,} reports)"
    )
    for incident in scenario.incidents:
        broadcast = incident.broadcast_at.strftime("%H:%M") if incident.broadcast_at else "none"
        lines.append(
            f"    {incident.started_at:%Y-%m-%d %a %H:%M}  {incident.incident_key:<52}"
            f" calls {incident.calls:>3}  reports {incident.reports:>3}  broadcast {broadcast}"
        )
    return "\n".join(lines)

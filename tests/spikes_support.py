"""Test helpers for spike detection: ordinary traffic from the simulator, and hand-made bursts on top of it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import Catalogue
from consumers.spikes.config import SpikeConfig, load_spike_config
from consumers.spikes.engine import EngineState, MemoryCounts, Observation, SpikeEngine, observe
from consumers.spikes.lifecycle import Action
from contracts import CallLogged, CallOutcome, CallTopic, Location, ReportChannel, ReportFiled
from hub.settings import Settings
from hub.simulator import SimEvent, simulate

TZ = ZoneInfo("Europe/Brussels")
WASTE = "waste.missed_collection"
SETTINGS = Settings()
CALENDAR = CityCalendar.load(SETTINGS.domain.calendar_file)
CATALOGUE = Catalogue.load(SETTINGS.domain.categories_file, SETTINGS.domain.assignees_file)
CONFIG: SpikeConfig = load_spike_config()


def category_of(subject: str) -> str | None:
    category = CATALOGUE.category_for_call_subject(subject)
    return category.code if category is not None else None


def ordinary_traffic(start: dt.date, days: int, *, seed: int) -> list[SimEvent]:
    """The city's usual calls and reports, no incidents planted."""
    return simulate(start=start, days=days, seed=seed, calendar=CALENDAR, incidents=0).events


def call(
    at: dt.datetime, *, category: str, district: str | None, run: str, n: int, report_id: str | None = None
) -> SimEvent:
    message = CallLogged(
        call_id=f"call-{run}-{n:04d}",
        started_at=at,
        duration_seconds=150,
        topic=CallTopic.REPORT,
        subject=category,
        outcome=CallOutcome.REPORT_FILED if report_id else CallOutcome.ANSWERED_AT_ONCE,
        district=district,
        related_report_id=report_id,
    )
    return SimEvent(at=at, routing_key=message.routing_key, message=message, event_id=str(uuid.uuid4()))


def report(
    at: dt.datetime, *, category: str, district: str, street: str, run: str, n: int, fraction: str | None = None
) -> SimEvent:
    message = ReportFiled(
        report_id=f"rep-{run}-{n:04d}",
        filed_at=at,
        channel=ReportChannel.WEB,
        category=category,
        waste_fraction=fraction,
        location=Location(street=street, postcode="3800", district=district),
        description="Afval niet opgehaald",
    )
    return SimEvent(at=at, routing_key=message.routing_key, message=message, event_id=str(uuid.uuid4()))


def burst(
    start: dt.datetime,
    *,
    run: str,
    district: str = "Kerkom",
    streets: Sequence[str] = ("Kerkomstraat", "Bergstraat"),
    calls: int = 4,
    reports: int = 6,
    minutes: int = 20,
    category: str = WASTE,
    fraction: str | None = "residual",
) -> list[SimEvent]:
    """`calls` calls and `reports` web reports about one category in one district, spread over `minutes`."""
    kinds: list[str] = []
    left_calls, left_reports = calls, reports
    while left_calls or left_reports:  # interleaved, as a burst of phone calls and web reports comes in
        if left_calls:
            kinds.append("call")
            left_calls -= 1
        if left_reports:
            kinds.append("report")
            left_reports -= 1
    events: list[SimEvent] = []
    for i, kind in enumerate(kinds):
        at = start + dt.timedelta(minutes=minutes * i / max(1, len(kinds) - 1))
        if kind == "call":
            events.append(call(at, category=category, district=district, run=run, n=i))
        else:
            street = streets[kinds[:i].count("report") % len(streets)]
            events.append(
                report(at, category=category, district=district, street=street, run=run, n=i, fraction=fraction)
            )
    return events


def quiet_ticks(start: dt.datetime, hours: Sequence[float], *, run: str) -> list[SimEvent]:
    """Single calls elsewhere, later on: they move event time forward without looking like an incident."""
    return [
        call(start + dt.timedelta(hours=h), category="road.damage", district="Velm", run=run, n=900 + i)
        for i, h in enumerate(hours)
    ]


def observations(events: Sequence[SimEvent]) -> list[Observation]:
    return [observe(e.message, e.event_id, CONFIG, category_of) for e in events]


def replay(events: Sequence[SimEvent], *, warmup: dt.timedelta) -> list[Action]:
    """The pure engine on the events, one step each: what the consumer must decide too."""
    engine = SpikeEngine(CONFIG, closed_day=CALENDAR.is_public_holiday, warmup=warmup)
    return engine.process(EngineState.new(CONFIG), observations(events), MemoryCounts())

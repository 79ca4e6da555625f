"""Spike detection on simulated years of two independent traffic models (issues 7 and 13). Not part of the tests.

    .venv/bin/python -m benchmarks.spikes [--seeds 2021 2022 2023] [--models sim city2] [--year 2021] [--json]

Models: `sim` is `hub.simulator.simulate_year` (30,080 calls, web and app reports, a dozen planted incidents);
`city2` is `benchmarks.city2`, written apart from it (other district sizes, collection days, benign clusters
of neighbours, seasonal categories, night incidents, slow incidents of 8 contacts in 2 hours). Each year is
replayed in-process through `consumers.spikes.engine.SpikeEngine`, the code the consumer runs in its
transaction (counts, the prior blended with the daily-refitted baseline, the Poisson test, the alert
lifecycle and its timer steps in event time), on an in-memory count table. Eight weeks of ordinary traffic
before the year are loaded as `hub spikes backfill` loads history: counted, never judged.

A `Fire` detects a planted incident when it is about the same category and district within the incident's
lifetime; every other `Fire` of the year is a false alert. Delays are measured from the incident's first call
or report (the first moment any detector could know), in minutes and in contacts (a report filed during a
call counting once). Resolution delay: from the incident's last contact to the step that sent its
`spike.resolved`. "Reports only" replays the same year with the calls left out of the counts, to show what
counting calls gains.

Fresh installs: (a) an empty hub on day 1, an incident on day 2; (b) a year of history backfilled, an incident
on the first live day.

Targets (issue 13, every seed and model): every planted incident with 8+ contacts in its first 2 hours detected;
median delay <= 15 min from the first contact; <= 6 false alerts per year; the fresh installs alert; every
resolution within quiet_minutes + 5 min of the incident's last contact.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from benchmarks.city2 import simulate_city2
from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import Catalogue
from consumers.spikes.config import SpikeConfig, load_spike_config
from consumers.spikes.engine import EngineState, MemoryCounts, Observation, Progress, SpikeEngine, event_time, observe
from consumers.spikes.lifecycle import Fire, Incident, Resolve
from contracts import CallLogged
from hub.settings import Settings
from hub.simulator import PlantedIncident, Scenario, simulate, simulate_year

ELIGIBLE_CONTACTS = 8
ELIGIBLE_WINDOW = dt.timedelta(hours=2)
TARGET_MEDIAN_MINUTES = 15.0
TARGET_FALSE_PER_YEAR = 6
RESOLVE_SLACK = dt.timedelta(minutes=5)
HISTORY_WEEKS = 8


@dataclass(frozen=True)
class Outcome:
    planted: PlantedIncident
    contacts: list[dt.datetime]  # event times of its contacts, a citizen once
    alert: Incident | None
    resolved: Incident | None

    @property
    def eligible(self) -> bool:
        end = self.planted.started_at + ELIGIBLE_WINDOW
        return sum(1 for t in self.contacts if t <= end) >= ELIGIBLE_CONTACTS

    @property
    def delay_min(self) -> float | None:
        if self.alert is None or not self.contacts:
            return None
        return (self.alert.at - self.contacts[0]).total_seconds() / 60

    @property
    def delay_contacts(self) -> int | None:
        return None if self.alert is None else sum(1 for t in self.contacts if t <= self.alert.at)

    @property
    def resolve_min(self) -> float | None:
        if self.resolved is None or not self.contacts:
            return None
        return (self.resolved.at - self.contacts[-1]).total_seconds() / 60

    @property
    def timer_lag_min(self) -> float | None:
        """From the end of the quiet period (quiet_minutes after the last contact counted) to the resolution sent."""
        if self.resolved is None or self.resolved.resolved_at is None:
            return None
        return (self.resolved.at - self.resolved.resolved_at).total_seconds() / 60


@dataclass
class YearResult:
    model: str
    seed: int
    outcomes: list[Outcome]
    false_alerts: list[Incident]
    unresolved: int
    late_resolutions: list[str]
    seconds: float
    progress: Progress
    reports_only_median: float | None = None
    reports_only_contacts: float | None = None
    reports_only_detected: int | None = None

    @property
    def detected(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.alert is not None]

    @property
    def eligible_missed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.eligible and o.alert is None]

    def median(self, values: Sequence[float | int | None]) -> float | None:
        xs = [v for v in values if v is not None]
        return statistics.median(xs) if xs else None

    @property
    def median_delay(self) -> float | None:
        return self.median([o.delay_min for o in self.outcomes])


@dataclass
class Bench:
    config: SpikeConfig
    calendar: CityCalendar
    catalogue: Catalogue
    cache: dict[Any, list[Observation]] = field(default_factory=dict)

    def engine(self) -> SpikeEngine:
        return SpikeEngine(self.config, closed_day=self.calendar.is_public_holiday)

    def category_of(self, subject: str) -> str | None:
        category = self.catalogue.category_for_call_subject(subject)
        return category.code if category is not None else None

    def observations(self, scenario: Scenario, *, calls: bool = True) -> list[Observation]:
        out = [observe(e.message, e.event_id, self.config, self.category_of) for e in scenario.events]
        if not calls:
            out = [
                replace(o, increments=()) if isinstance(e.message, CallLogged) else o
                for o, e in zip(out, scenario.events, strict=True)
            ]
        return out

    def run(
        self, history: list[Observation], live: list[Observation]
    ) -> tuple[list[Incident], list[Incident], Progress]:
        engine, state, store = self.engine(), EngineState.new(self.config), MemoryCounts()
        engine.backfill(state, history, store)
        progress = Progress()
        actions = engine.process(state, live, store, progress=progress)
        # The timer after the last message: nothing is left hanging at the end of the year.
        last = max((o.at for o in live), default=None)
        if last is not None:
            actions += engine.advance(state, last + dt.timedelta(days=1), store, progress=progress)
        fires = [a.incident for a in actions if isinstance(a, Fire)]
        resolves = [a.incident for a in actions if isinstance(a, Resolve)]
        return fires, resolves, progress


def incident_contacts(scenario: Scenario, incident: PlantedIncident) -> list[dt.datetime]:
    """Event times of the incident's calls and reports, a report filed during one of its calls counted once."""
    calls, reports = set(incident.call_ids), set(incident.report_ids)
    linked: set[str] = set()
    times: list[dt.datetime] = []
    for event in scenario.events:
        message = event.message
        if isinstance(message, CallLogged) and message.call_id in calls:
            times.append(event_time(message))
            if message.related_report_id:
                linked.add(message.related_report_id)
    for event in scenario.events:
        message = event.message
        if not isinstance(message, CallLogged) and message.report_id in reports and message.report_id not in linked:
            times.append(event_time(message))
    return sorted(times)


def matches(alert: Incident, planted: PlantedIncident) -> bool:
    return (
        alert.category == planted.category
        and alert.district == planted.district
        and planted.started_at <= alert.at <= planted.ended_at
    )


def scenarios(model: str, year: int, seed: int, calendar: CityCalendar) -> tuple[Scenario, Scenario]:
    """(history of HISTORY_WEEKS before the year, the year) of a model."""
    first = dt.date(year, 1, 1)
    if model == "sim":
        days = 7 * HISTORY_WEEKS
        history = simulate(
            start=first - dt.timedelta(days=days), days=days, seed=seed + 1, calendar=calendar, incidents=0
        )
        return history, simulate_year(year, seed=seed, calendar=calendar)
    days_before = [first - dt.timedelta(days=7 * HISTORY_WEEKS - i) for i in range(7 * HISTORY_WEEKS)]
    history = simulate_city2(year - 1, seed=seed + 1, incidents=False, days=days_before)
    return history, simulate_city2(year, seed=seed)


def evaluate(bench: Bench, model: str, year: int, seed: int, *, reports_only: bool) -> YearResult:
    started = time.perf_counter()
    history, lived = scenarios(model, year, seed, bench.calendar)
    past = bench.observations(history)
    fires, resolves, progress = bench.run(past, bench.observations(lived))
    tz = bench.config.tz
    start = dt.datetime.combine(dt.date(year, 1, 1), dt.time(0), tzinfo=tz)
    end = dt.datetime.combine(dt.date(year + 1, 1, 1), dt.time(0), tzinfo=tz)
    in_year = [f for f in fires if start <= f.at < end]
    outcomes = []
    late: list[str] = []
    for p in lived.incidents:
        alert = next((f for f in in_year if matches(f, p)), None)
        resolved = None if alert is None else next((r for r in resolves if r.incident_id == alert.incident_id), None)
        outcome = Outcome(p, incident_contacts(lived, p), alert, resolved)
        outcomes.append(outcome)
        quiet = bench.config.for_category(p.category).quiet_minutes
        if outcome.resolve_min is not None and outcome.resolve_min > quiet + RESOLVE_SLACK.total_seconds() / 60:
            line = f"{p.category}|{p.district} {outcome.resolve_min:.0f} min > {quiet} + 5"
            assert outcome.resolved is not None
            held = (outcome.resolved.last_active_at - outcome.contacts[-1]).total_seconds() / 60
            if held > 0:
                # What the detector saw: its quiet period ran from a later contact of the same district.
                line += (
                    f" (its last counted contact, {outcome.resolved.last_active_at.astimezone(bench.config.tz):%H:%M},"
                    f" came {held:.0f} min after the incident's last: a contact of the same district in the"
                    f" incident's tail, not one of its planted contacts)"
                )
            late.append(line)
    false_alerts = [f for f in in_year if not any(matches(f, p) for p in lived.incidents)]
    fired_ids = {f.incident_id for f in fires}
    unresolved = len(fired_ids - {r.incident_id for r in resolves})
    result = YearResult(model, seed, outcomes, false_alerts, unresolved, late, time.perf_counter() - started, progress)
    if reports_only:
        fires_r, _, _ = bench.run(bench.observations(history, calls=False), bench.observations(lived, calls=False))
        found = [
            (o, next((f for f in fires_r if start <= f.at < end and matches(f, o.planted)), None)) for o in outcomes
        ]
        delays = [(f.at - o.contacts[0]).total_seconds() / 60 for o, f in found if f is not None and o.contacts]
        counts = [sum(1 for t in o.contacts if t <= f.at) for o, f in found if f is not None]
        result.reports_only_median = statistics.median(delays) if delays else None
        result.reports_only_contacts = statistics.median(counts) if counts else None
        result.reports_only_detected = sum(1 for _, f in found if f is not None)
    return result


@dataclass
class FreshResult:
    name: str
    model: str
    seed: int
    planted: PlantedIncident
    alert: Incident | None
    delay_min: float | None
    delay_contacts: int | None
    false_alerts: int


def fresh(bench: Bench, model: str, seed: int, *, backfilled: bool) -> FreshResult:
    """(a) no history, an incident on day 2; (b) a backfilled year, an incident on the first live day."""
    live_day = dt.date(2022, 3, 9)  # a Wednesday
    if backfilled:
        history_days = [live_day - dt.timedelta(days=365 - i) for i in range(365)]
        live_days = [live_day]
    else:
        history_days = []
        live_days = [live_day - dt.timedelta(days=1), live_day, live_day + dt.timedelta(days=1)]
    if model == "sim":
        history = (
            simulate(start=history_days[0], days=len(history_days), seed=seed + 7, calendar=bench.calendar, incidents=0)
            if history_days
            else Scenario(events=[])
        )
        parts = [
            simulate(start=d, days=1, seed=seed, calendar=bench.calendar, incidents=1 if d == live_day else 0)
            for d in live_days
        ]
        lived = Scenario(events=[e for p in parts for e in p.events], incidents=[i for p in parts for i in p.incidents])
        lived.events.sort(key=lambda e: (e.at, e.event_id))
    else:
        history = (
            simulate_city2(2021, seed=seed + 7, incidents=False, days=history_days)
            if history_days
            else Scenario(events=[])
        )
        lived = simulate_city2(2022, seed=seed, incidents=False, days=live_days, plant_on=live_day)
    fires, _, _ = bench.run(bench.observations(history), bench.observations(lived))
    planted = lived.incidents[0]
    alert = next((f for f in fires if matches(f, planted)), None)
    contacts = incident_contacts(lived, planted)
    delay = None if alert is None or not contacts else (alert.at - contacts[0]).total_seconds() / 60
    n = None if alert is None else sum(1 for t in contacts if t <= alert.at)
    name = "backfilled year, incident on the first live day" if backfilled else "no history, incident on day 2"
    return FreshResult(name, model, seed, planted, alert, delay, n, sum(1 for f in fires if not matches(f, planted)))


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def print_year(r: YearResult, config: SpikeConfig) -> None:
    print(
        f"\n== {r.model}, seed {r.seed}: {len(r.outcomes)} planted, replayed in {r.seconds:.0f} s "
        f"({r.progress.steps:,} steps, {r.progress.ticks:,} timer steps)"
    )
    print(f"  {'planted incident':<58}{'contacts':>9}{'in 2h':>6}  {'alert':<17}{'min':>6}{'cont.':>6}{'resolved':>10}")
    for o in r.outcomes:
        p = o.planted
        label = f"{p.started_at.astimezone(config.tz):%m-%d %a %H:%M} {p.category}|{p.district}"
        in_2h = sum(1 for t in o.contacts if t <= p.started_at + ELIGIBLE_WINDOW)
        shown = "MISSED" if o.alert is None else f"{o.alert.at.astimezone(config.tz):%H:%M} ({o.alert.scope.value})"
        res = "-" if o.resolve_min is None else f"+{o.resolve_min:.0f}"
        print(
            f"  {label:<58}{len(o.contacts):>9}{in_2h:>6}  {shown:<17}{fmt(o.delay_min, '.0f'):>6}"
            f"{fmt(o.delay_contacts, 'd') if o.delay_contacts is not None else '-':>6}{res:>10}"
        )
    for f in r.false_alerts:
        print(
            f"  false alert: {f.at.astimezone(config.tz):%Y-%m-%d %a %H:%M} {f.incident_key} "
            f"(observed {f.observed} vs {f.expected:.2f} expected, p={f.p_value:.2g})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.spikes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[2021, 2022, 2023])
    parser.add_argument("--models", nargs="+", default=["sim", "city2"], choices=["sim", "city2"])
    parser.add_argument("--year", type=int, default=2021)
    parser.add_argument("--no-reports-only", action="store_true", help="skip the replays without calls")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args(argv)

    settings = Settings()
    bench = Bench(
        load_spike_config(settings.spikes.file),
        CityCalendar.load(settings.domain.calendar_file),
        Catalogue.load(settings.domain.categories_file, settings.domain.assignees_file),
    )
    config = bench.config
    years = [
        evaluate(bench, model, args.year, seed, reports_only=not args.no_reports_only)
        for model in args.models
        for seed in args.seeds
    ]
    for r in years:
        print_year(r, config)
    freshes = [fresh(bench, m, s, backfilled=b) for m in args.models for s in args.seeds for b in (False, True)]

    print("\n== Summary (delays from the incident's first contact)")
    print(
        f"  {'model':<7}{'seed':>5}{'detected':>10}{'eligible':>9}{'median':>8}{'worst':>7}{'med. cont.':>11}"
        f"{'worst c.':>9}{'false/yr':>9}{'resolve med/worst':>19}{'reports only: med (cont.)':>28}"
    )
    ok_all = True
    verdicts: list[dict[str, Any]] = []
    for r in years:
        delays = [o.delay_min for o in r.outcomes if o.delay_min is not None]
        contacts = [o.delay_contacts for o in r.outcomes if o.delay_contacts is not None]
        resolves = [o.resolve_min for o in r.outcomes if o.resolve_min is not None]
        eligible = [o for o in r.outcomes if o.eligible]
        median = statistics.median(delays) if delays else None
        ok = (
            not r.eligible_missed
            and median is not None
            and median <= TARGET_MEDIAN_MINUTES
            and len(r.false_alerts) <= TARGET_FALSE_PER_YEAR
            and not r.late_resolutions
            and r.unresolved == 0
        )
        ok_all &= ok
        reports_only = (
            f"{fmt(r.reports_only_median)} ({fmt(r.reports_only_contacts, '.0f')})"
            if r.reports_only_median is not None
            else "-"
        )
        print(
            f"  {r.model:<7}{r.seed:>5}{len(r.detected):>6}/{len(r.outcomes):<3}"
            f"{len(eligible) - len(r.eligible_missed):>5}/{len(eligible):<3}{fmt(median):>8}"
            f"{fmt(max(delays) if delays else None):>7}{fmt(statistics.median(contacts) if contacts else None):>11}"
            f"{max(contacts) if contacts else '-':>9}{len(r.false_alerts):>9}"
            f"{fmt(statistics.median(resolves) if resolves else None, '.0f'):>10}/"
            f"{fmt(max(resolves) if resolves else None, '.0f'):<8}{reports_only:>28}  {'PASS' if ok else 'MISS'}"
        )
        lags = [o.timer_lag_min for o in r.outcomes if o.timer_lag_min is not None]
        if lags:
            print(f"      timer: resolutions sent {max(lags):.1f} min at most after the end of their quiet period")
        for line in r.late_resolutions:
            print(f"      late resolution: {line}")
        if r.unresolved:
            print(f"      {r.unresolved} alert(s) never resolved")
        verdicts.append(
            {
                "model": r.model,
                "seed": r.seed,
                "planted": len(r.outcomes),
                "detected": len(r.detected),
                "eligible": len(eligible),
                "eligible_missed": len(r.eligible_missed),
                "median_delay_min": median,
                "worst_delay_min": max(delays) if delays else None,
                "median_delay_contacts": statistics.median(contacts) if contacts else None,
                "worst_delay_contacts": max(contacts) if contacts else None,
                "false_alerts": len(r.false_alerts),
                "resolve_median_min": statistics.median(resolves) if resolves else None,
                "resolve_worst_min": max(resolves) if resolves else None,
                "late_resolutions": len(r.late_resolutions),
                "timer_lag_worst_min": max(lags) if lags else None,
                "reports_only_median_delay_min": r.reports_only_median,
                "reports_only_median_contacts": r.reports_only_contacts,
                "reports_only_detected": r.reports_only_detected,
                "pass": ok,
            }
        )
    print("  (resolve: minutes from the incident's last contact to its spike.resolved; quiet_minutes are per category)")
    print("\n== Fresh installs")
    for f in freshes:
        ok = f.alert is not None
        ok_all &= ok
        p = f.planted
        print(
            f"  {f.model:<7}{f.seed:>5}  {f.name:<48} {p.category}|{p.district} "
            f"{'alert after ' + fmt(f.delay_min, '.0f') + ' min, ' + str(f.delay_contacts) + ' contacts' if ok else 'MISSED'}"
            f"; {f.false_alerts} other alert(s)  {'PASS' if ok else 'MISS'}"
        )
        verdicts.append(
            {
                "fresh": f.name,
                "model": f.model,
                "seed": f.seed,
                "detected": ok,
                "delay_min": f.delay_min,
                "delay_contacts": f.delay_contacts,
                "other_alerts": f.false_alerts,
            }
        )
    print(f"\n  {'ALL TARGETS MET' if ok_all else 'SOME TARGETS MISSED'}")
    if args.json:
        print(json.dumps({"year": args.year, "results": verdicts, "all_met": ok_all}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

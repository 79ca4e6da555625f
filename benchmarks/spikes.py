"""Spike detection on a simulated year of the city's traffic (issue 7). Not part of the test suite.

    .venv/bin/python -m benchmarks.spikes [--seed S] [--year 2021] [--warmup-weeks 8] [--json]

The year comes from `hub.simulator.simulate_year` (30,080 calls, the web and app reports on top, a dozen
planted incidents of different kinds and sizes, each with the exact ids of its calls and reports). It is
replayed, in-process and without a broker, through `consumers.spikes.engine.SpikeEngine`: the same code the
spikes consumer runs in its transaction (counts, daily baseline refits on event time, the Poisson test,
the alert lifecycle), with an in-memory count table instead of the database. Before the year, `--warmup-weeks`
of ordinary traffic (no incidents) give the baseline a history, as the city's own past would; alerts during
the warm-up are not counted.

A `SpikeDetected` (a `Fire`) detects a planted incident when it is about the same category and district and
falls within the incident's lifetime (its start until its last call or report). Every other `Fire` in the year
is a false alert. Delays are measured from the incident's start: in minutes, and in contacts (calls and
reports, a report filed during a call counting once, as the detector counts) received up to the alert.
The minutes are given twice: from the incident's planted start, which includes the time the citizens take
to notice and call (the simulator's first contact comes 5 to 20 minutes after it), and from its first call
or report, the first moment any detector could know: the detector's own latency.

Targets (issue 7): every planted incident with at least 8 contacts in its first 2 hours detected within 2 hours;
median delay under 15 minutes; at most one false alert per month over all categories. The figures are
measured on every run; nothing is hard-coded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from dataclasses import dataclass

from consumers.spikes.config import load_spike_config
from consumers.spikes.engine import EngineState, MemoryCounts, Progress, SpikeEngine, event_time, observe
from consumers.spikes.lifecycle import Fire, Incident
from contracts import CallLogged
from hub.calendar import CityCalendar
from hub.catalogue import Catalogue
from hub.settings import Settings
from hub.simulator import PlantedIncident, Scenario, SimEvent, simulate, simulate_year

ELIGIBLE_CONTACTS = 8
ELIGIBLE_WINDOW = dt.timedelta(hours=2)
TARGET_DELAY = dt.timedelta(hours=2)
TARGET_MEDIAN_MINUTES = 15.0
TARGET_FALSE_PER_MONTH = 1.0


@dataclass(frozen=True)
class Outcome:
    """One planted incident and what the detector made of it."""

    planted: PlantedIncident
    contacts: list[dt.datetime]  # event times of its contacts, a citizen once
    alert: Incident | None

    @property
    def eligible(self) -> bool:
        """At least 8 contacts within 2 hours of its start: the target says it must be detected."""
        end = self.planted.started_at + ELIGIBLE_WINDOW
        return sum(1 for t in self.contacts if t <= end) >= ELIGIBLE_CONTACTS

    @property
    def delay(self) -> dt.timedelta | None:
        return None if self.alert is None else self.alert.at - self.planted.started_at

    @property
    def delay_from_first_contact(self) -> dt.timedelta | None:
        """From the incident's first call or report: the detector's own latency, without the citizens' reaction time."""
        if self.alert is None or not self.contacts:
            return None
        return self.alert.at - self.contacts[0]

    @property
    def contacts_before_alert(self) -> int | None:
        return None if self.alert is None else sum(1 for t in self.contacts if t <= self.alert.at)


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


def replay(events: list[SimEvent], engine: SpikeEngine, catalogue: Catalogue) -> tuple[list[Incident], Progress]:
    """Every event through the engine, one step each in event-time order; the Fires, in order."""
    config = engine.config
    state = EngineState.new(config)
    store = MemoryCounts()

    def category_of(subject: str) -> str | None:
        category = catalogue.category_for_call_subject(subject)
        return category.code if category is not None else None

    progress = Progress()
    observations = [observe(e.message, e.event_id, config, category_of) for e in events]
    actions = engine.process(state, observations, store, progress=progress)
    return [a.incident for a in actions if isinstance(a, Fire)], progress


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.spikes", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=2021, help="simulator seed (default 2021)")
    parser.add_argument("--year", type=int, default=2021, help="the simulated year (default 2021)")
    parser.add_argument("--warmup-weeks", type=int, default=8, help="ordinary traffic before the year (default 8)")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args(argv)

    settings = Settings()
    calendar = CityCalendar.load(settings.calendar_file)
    catalogue = Catalogue.load(settings.categories_file, settings.assignees_file)
    config = load_spike_config()
    engine = SpikeEngine(config, closed_day=calendar.is_public_holiday)

    started = time.perf_counter()
    year = simulate_year(args.year, seed=args.seed, calendar=calendar)
    first_day = dt.date(args.year, 1, 1)
    warmup_days = 7 * args.warmup_weeks
    history = (
        simulate(
            start=first_day - dt.timedelta(days=warmup_days),
            days=warmup_days,
            seed=args.seed + 1,
            calendar=calendar,
            incidents=0,
        ).events
        if warmup_days
        else []
    )
    simulated = time.perf_counter() - started
    fires, progress = replay(history + year.events, engine, catalogue)
    replayed = time.perf_counter() - started - simulated

    year_start = dt.datetime.combine(first_day, dt.time(0), tzinfo=config.tz)
    year_end = dt.datetime.combine(dt.date(args.year + 1, 1, 1), dt.time(0), tzinfo=config.tz)
    in_year = [f for f in fires if year_start <= f.at < year_end]
    outcomes = [
        Outcome(p, incident_contacts(year, p), next((f for f in in_year if matches(f, p)), None))
        for p in year.incidents
    ]
    matched = {id(o.alert) for o in outcomes if o.alert is not None}
    false_alerts = [f for f in in_year if id(f) not in matched and not any(matches(f, p) for p in year.incidents)]
    months = 12

    print(
        f"Spike benchmark: simulated {args.year} (seed {args.seed}), {len(year.events):,} events "
        f"({sum(1 for e in year.events if isinstance(e.message, CallLogged)):,} calls), "
        f"{len(history):,} warm-up events over {args.warmup_weeks} weeks"
    )
    print(
        f"  simulated in {simulated:.1f} s, replayed in {replayed:.1f} s "
        f"({progress.steps:,} steps, {len(progress.refits)} daily baseline refits)"
    )
    print()
    print(
        f"  {'planted incident':<56}{'contacts':>9}{'in 2h':>7}{'1st at':>8}  {'alert':<16}"
        f"{'delay':>7}{'from 1st':>10}{'contacts':>10}"
    )
    for o in outcomes:
        p = o.planted
        label = f"{p.started_at:%Y-%m-%d %H:%M} {p.category}|{p.district}"
        in_2h = sum(1 for t in o.contacts if t <= p.started_at + ELIGIBLE_WINDOW)
        first = f"+{(o.contacts[0] - p.started_at).total_seconds() / 60:.0f}" if o.contacts else "-"
        if o.alert is None:
            shown, delay, own_delay, before = "MISSED", "", "", ""
        else:
            assert o.delay is not None
            assert o.delay_from_first_contact is not None
            shown = f"{o.alert.at.astimezone(config.tz):%H:%M} ({o.alert.scope.value})"
            delay = f"{o.delay.total_seconds() / 60:.0f}"
            own_delay = f"{o.delay_from_first_contact.total_seconds() / 60:.0f}"
            before = str(o.contacts_before_alert)
        print(
            f"  {label:<56}{len(o.contacts):>9}{in_2h:>7}{first:>8}  {shown:<16}{delay:>7}{own_delay:>10}{before:>10}"
        )
    print("  (minutes after the planted start; 'contacts': calls and reports up to the alert, a citizen once)")
    for f in false_alerts:
        print(
            f"  false alert: {f.at.astimezone(config.tz):%Y-%m-%d %a %H:%M} {f.incident_key} "
            f"(observed {f.observed} vs {f.expected:.2f} expected, p={f.p_value:.2g})"
        )
    print()

    detected = [o for o in outcomes if o.alert is not None]
    eligible = [o for o in outcomes if o.eligible]
    eligible_in_time = [o for o in eligible if o.delay is not None and o.delay <= TARGET_DELAY]
    delays = [o.delay.total_seconds() / 60 for o in detected if o.delay is not None]
    own = [o.delay_from_first_contact.total_seconds() / 60 for o in detected if o.delay_from_first_contact is not None]
    contacts = [o.contacts_before_alert for o in detected if o.contacts_before_alert is not None]
    median_delay = statistics.median(delays) if delays else float("nan")
    worst_delay = max(delays) if delays else float("nan")
    median_own = statistics.median(own) if own else float("nan")
    worst_own = max(own) if own else float("nan")
    per_month = len(false_alerts) / months

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    print(f"  incidents detected:              {len(detected)} of {len(outcomes)} planted")
    print(f"  delay, minutes from start:       median {median_delay:.1f}, worst {worst_delay:.1f}")
    print(f"  delay, minutes from 1st contact: median {median_own:.1f}, worst {worst_own:.1f}")
    for k in (1, 3, 5):
        # The floor any detector faces: citizens need this long after the start to call or report k times.
        kth = [
            (o.contacts[k - 1] - o.planted.started_at).total_seconds() / 60 for o in outcomes if len(o.contacts) >= k
        ]
        if kth:
            print(f"  contact no. {k} came, after start: median {statistics.median(kth):.1f} min")
    if contacts:
        print(f"  delay, contacts:                 median {statistics.median(contacts):.1f}, worst {max(contacts)}")
    print(f"  false alerts:                    {len(false_alerts)} in the year ({per_month:.2f} per month)")
    print()
    target_1 = len(eligible_in_time) == len(eligible)
    target_2 = bool(delays) and median_delay < TARGET_MEDIAN_MINUTES
    target_2b = bool(own) and median_own < TARGET_MEDIAN_MINUTES
    target_3 = per_month <= TARGET_FALSE_PER_MONTH
    print(
        f"  {verdict(target_1)}  every incident of >= {ELIGIBLE_CONTACTS} contacts within 2 h detected within 2 h "
        f"({len(eligible_in_time)} of {len(eligible)})"
    )
    print(
        f"  {verdict(target_2)}  median detection delay < {TARGET_MEDIAN_MINUTES:.0f} min from the planted start "
        f"({median_delay:.1f} min)"
    )
    print(
        f"  {verdict(target_2b)}  median detection delay < {TARGET_MEDIAN_MINUTES:.0f} min from the first contact "
        f"({median_own:.1f} min)"
    )
    print(f"  {verdict(target_3)}  at most {TARGET_FALSE_PER_MONTH:.0f} false alert per month ({per_month:.2f})")
    if args.json:
        print(
            json.dumps(
                {
                    "year": args.year,
                    "seed": args.seed,
                    "planted": len(outcomes),
                    "detected": len(detected),
                    "eligible": len(eligible),
                    "eligible_detected_in_time": len(eligible_in_time),
                    "median_delay_min": median_delay,
                    "worst_delay_min": worst_delay,
                    "median_delay_from_first_contact_min": median_own,
                    "worst_delay_from_first_contact_min": worst_own,
                    "median_delay_contacts": statistics.median(contacts) if contacts else None,
                    "worst_delay_contacts": max(contacts) if contacts else None,
                    "false_alerts": len(false_alerts),
                    "targets_met": {
                        "eligible_detected_within_2h": target_1,
                        "median_delay_from_start": target_2,
                        "median_delay_from_first_contact": target_2b,
                        "false_alerts_per_month": target_3,
                    },
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The spike detector on generated counts: Poisson tail, baseline, planted spikes, normal rhythm, event time.

The traffic generator below is the city's plausible rhythm (see `../shared/docs/domain.md`): calls only
while the ContactCenter is open (busiest on Monday morning), web and app reports from early morning to
late evening, missed collections crowding on each district's collection day, a report filed during a
call linked to it. Every random draw comes from a seeded `random.Random`, so the figures are stable.
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import math
import random
import statistics
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from consumers.domain.catalogue import Catalogue
from consumers.spikes.baseline import (
    BaselineModel,
    Exclusion,
    cell_of,
    empty_baseline,
    fit_baseline,
    fit_window,
)
from consumers.spikes.config import DEFAULT_PATH, SpikeConfig, SpikeConfigError, load_spike_config
from consumers.spikes.detector import (
    BucketCount,
    CountTable,
    Decision,
    IncidentKey,
    Increment,
    SpikeDetector,
    bucket_start,
    increments_for_call,
    increments_for_report,
    judge,
    judge_spread,
    poisson_logsf,
    poisson_sf,
    window_starts,
)
from consumers.spikes.lifecycle import AlertBook, Fire, Incident, Resolve
from contracts.base import Location
from contracts.calls import CallLogged, CallOutcome, CallTopic
from contracts.reports import ReportChannel, ReportFiled
from hub.settings import CONFIG_DIR

pytestmark = pytest.mark.unit

TZ = ZoneInfo("Europe/Brussels")
WASTE = "waste.missed_collection"
LIGHTING = "lighting.defect"
SEWER = "sewer.blocked"
TREES = "green.fallen_tree"


@pytest.fixture(scope="module")
def config() -> SpikeConfig:
    return load_spike_config()


# --------------------------------------------------------------------------------------------------
# A seeded traffic generator


def poisson(rng: random.Random, lam: float) -> int:
    """Knuth's product method, in chunks so exp(-lam) never underflows."""
    n = 0
    while lam > 30.0:
        n += poisson(rng, 30.0)
        lam -= 30.0
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


# District -> (share of the city's reports, streets). Streets as in hub/config/districts.yaml.
DISTRICTS: dict[str, tuple[float, tuple[str, ...]]] = {
    "Sint-Truiden": (
        0.30,
        ("Grote Markt", "Stapelstraat", "Luikerstraat", "Tiensestraat", "Diesterstraat", "Naamsestraat"),
    ),
    "Aalst": (0.06, ("Aalstersteenweg", "Kerkstraat", "Vinckenbosstraat", "Jan Olieslagersstraat")),
    "Brustem": (0.07, ("Brustemsesteenweg", "Luikersteenweg", "Ordingenstraat", "Kerkstraat", "Vliegveldlaan")),
    "Engelmanshoven": (0.03, ("Engelmanshovenstraat", "Bovenweg", "Kastanjelaan")),
    "Gelinden": (0.05, ("Steenweg", "Dorpsstraat", "Kortenbosweg")),
    "Groot-Gelmen": (0.04, ("Dorpsstraat", "Kerkweg", "Kapelstraat")),
    "Halmaal": (0.04, ("Halmaalweg", "Kasteelstraat", "Molenstraat")),
    "Kerkom": (0.03, ("Kerkomstraat", "Bergstraat", "Hoogstraat")),
    "Ordingen": (0.04, ("Ordingenstraat", "Kasteelstraat", "Schoolstraat")),
    "Zepperen": (0.06, ("Zepperenweg", "Kasteelstraat", "Bautershovenstraat", "Dorpsstraat")),
    "Duras": (0.04, ("Durasweg", "Kerkstraat", "Molenweg")),
    "Gorsem": (0.04, ("Gorsemweg", "Hoogstraat", "Schoolstraat")),
    "Runkelen": (0.05, ("Runkelenstraat", "Pastorijstraat", "Kerkstraat")),
    "Wilderen": (0.05, ("Wilderenlaan", "Kapellekensweg", "Kortestraat")),
    "Velm": (0.10, ("Velmerlaan", "Pastoriestraat", "Hoogstraat", "Jonkheerstraat")),
}
# Contacts (calls + unlinked web/app reports) a year per category: a few thousand of the city's 30,080 calls.
YEARLY = {WASTE: 2600.0, LIGHTING: 900.0, SEWER: 400.0, TREES: 200.0}
CALL_SHARE = 0.55  # of contacts, by phone (only while open); a phoned report is filed during the call half the time
LINKED_REPORT_SHARE = 0.5


def collection_day(district: str) -> int:
    """Each district's waste round runs on one weekday (Monday..Friday); the city centre's on Monday."""
    return 0 if district == "Sint-Truiden" else sorted(DISTRICTS).index(district) % 5


def call_weight(weekday: int, hour: int) -> float:
    """Calls: opening hours only; Monday morning is the busiest hour of the week."""
    if weekday < 5 and 9 <= hour < 16:
        day = 1.5 if weekday == 0 else 1.0
        return day * (1.4 if hour < 11 else 1.0 if hour < 13 else 0.8)
    if weekday == 5 and 9 <= hour < 12:
        return 0.8
    return 0.0


def web_weight(weekday: int, hour: int) -> float:
    """Web and app reports: from 7 to 23, busier in the evening and at the weekend."""
    if not 7 <= hour < 23:
        return 0.02
    return (1.5 if 18 <= hour < 22 else 1.0) * (1.1 if weekday >= 5 else 1.0)


def district_factor(category: str, district: str, weekday: int) -> float:
    """Missed collections crowd on the district's collection day and the morning after."""
    if category != WASTE:
        return 1.0
    day = collection_day(district)
    return 4.0 if weekday == day else 1.5 if weekday == (day + 1) % 7 else 0.3


@dataclass(frozen=True, slots=True)
class Event:
    at: dt.datetime
    message: CallLogged | ReportFiled
    planted: int | None = None  # index of the planted incident it belongs to


@dataclass
class Traffic:
    """Generates calls and reports; every id is unique, every time carries its offset."""

    seed: int
    rng: random.Random = field(init=False)
    serial: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def _id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial:07d}"

    def call(
        self,
        at: dt.datetime,
        category: str,
        district: str | None,
        related_report_id: str | None = None,
        call_id: str | None = None,
    ) -> CallLogged:
        return CallLogged(
            call_id=call_id or self._id("call"),
            started_at=at,
            duration_seconds=120,
            topic=CallTopic.REPORT,
            subject=category,
            outcome=CallOutcome.REPORT_FILED if related_report_id else CallOutcome.ANSWERED_AT_ONCE,
            district=district,
            related_report_id=related_report_id,
        )

    def report(
        self, at: dt.datetime, category: str, district: str, street: str, call_id: str | None = None
    ) -> ReportFiled:
        return ReportFiled(
            report_id=self._id("rep"),
            filed_at=at,
            channel=ReportChannel.PHONE if call_id else ReportChannel.WEB,
            category=category,
            waste_fraction="residual" if category == WASTE else None,
            location=Location(street=street, postcode="3800", district=district),
            call_id=call_id,
        )

    def contact(self, at: dt.datetime, category: str, district: str, street: str, by_phone: bool) -> list[Event]:
        """One citizen's contact: a call (perhaps with a report filed during it) or a web report."""
        if not by_phone:
            return [Event(at, self.report(at, category, district, street))]
        if self.rng.random() >= LINKED_REPORT_SHARE:
            return [Event(at, self.call(at, category, district))]
        call_id = self._id("call")
        filed = at + dt.timedelta(minutes=self.rng.randint(1, 5))
        report = self.report(filed, category, district, street, call_id=call_id)
        call = self.call(at, category, district, related_report_id=report.report_id, call_id=call_id)
        return [Event(at, call), Event(filed, report)]

    def street(self, district: str) -> str:
        streets = DISTRICTS[district][1]
        # The first streets are the long ones: more reports come from them.
        return self.rng.choices(streets, weights=[len(streets) - i for i in range(len(streets))])[0]

    def normal(self, start: dt.datetime, weeks: int, categories: Iterable[str] = tuple(YEARLY)) -> list[Event]:
        """`weeks` of ordinary traffic from `start` (a local midnight), 15-minute steps."""
        cats = list(categories)
        names = sorted(DISTRICTS)
        # Per category and channel: the expected city-wide count in an hour cell, and the district weights.
        scale: dict[tuple[str, bool], float] = {}
        for category in cats:
            for by_phone in (True, False):
                weekly = 0.0
                for cell in range(168):
                    wd, hour = divmod(cell, 24)
                    w = call_weight(wd, hour) if by_phone else web_weight(wd, hour)
                    weekly += w * sum(DISTRICTS[d][0] * district_factor(category, d, wd) for d in names)
                share = CALL_SHARE if by_phone else 1.0 - CALL_SHARE
                scale[(category, by_phone)] = YEARLY[category] * share / 52.0 / weekly
        events: list[Event] = []
        step = dt.timedelta(minutes=15)
        t = start.astimezone(dt.UTC)
        end = t + dt.timedelta(weeks=weeks)
        while t < end:
            local = t.astimezone(TZ)
            wd, hour = local.weekday(), local.hour
            for category in cats:
                dweights = [DISTRICTS[d][0] * district_factor(category, d, wd) for d in names]
                total_d = sum(dweights)
                for by_phone in (True, False):
                    w = call_weight(wd, hour) if by_phone else web_weight(wd, hour)
                    lam = scale[(category, by_phone)] * w * total_d / 4.0
                    for _ in range(poisson(self.rng, lam)):
                        district = self.rng.choices(names, weights=dweights)[0]
                        at = t + dt.timedelta(seconds=self.rng.randrange(15 * 60))
                        events.extend(self.contact(at, category, district, self.street(district), by_phone))
            t += step
        return events

    def burst(
        self, index: int, start: dt.datetime, category: str, district: str, size: int, minutes: int = 60
    ) -> list[Event]:
        """A planted incident: `size` contacts about one district within `minutes`, on one to three streets."""
        streets = self.rng.sample(DISTRICTS[district][1], k=min(len(DISTRICTS[district][1]), self.rng.randint(1, 3)))
        events: list[Event] = []
        for _ in range(size):
            at = start + dt.timedelta(seconds=self.rng.randrange(minutes * 60))
            by_phone = call_weight(at.astimezone(TZ).weekday(), at.astimezone(TZ).hour) > 0 and self.rng.random() < 0.6
            for e in self.contact(at, category, district, self.rng.choice(streets), by_phone):
                events.append(Event(e.at, e.message, planted=index))
        return events


def increments(event: Event, config: SpikeConfig) -> list[Increment]:
    if isinstance(event.message, CallLogged):
        return increments_for_call(event.message, config)
    return increments_for_report(event.message, config)


@dataclass
class Replay:
    """The hub's spike pipeline driven by a list of events, one step per event, on event time only."""

    config: SpikeConfig
    table: CountTable = field(default_factory=CountTable)
    fires: list[tuple[Incident, dt.datetime]] = field(default_factory=list)
    resolves: list[Incident] = field(default_factory=list)
    evaluations: int = 0

    def run(
        self, events: list[Event], *, evaluate_from: dt.datetime, refit: dt.timedelta = dt.timedelta(days=7)
    ) -> None:
        book = AlertBook(self.config)
        exclusions: list[Exclusion] = []
        detector: SpikeDetector | None = None
        next_fit = evaluate_from
        for event in sorted(events, key=lambda e: e.at):
            incs = increments(event, self.config)
            self.table.add_all(incs)
            if event.at < evaluate_from:
                continue
            if detector is None or event.at >= next_fit:
                # Refit on event time, from the counts and the incidents seen so far.
                detector = SpikeDetector(self.config, self.fit(next_fit, exclusions))
                while next_fit <= event.at:
                    next_fit += refit
            keys = {i.key for i in incs} | set(book.live_keys())
            decisions = [detector.evaluate(k, self.table.buckets(k), event.at) for k in sorted(keys)]
            self.evaluations += len(decisions)
            for action in book.step(event.at, decisions):
                if isinstance(action, Fire):
                    self.fires.append((action.incident, event.at))
                elif isinstance(action, Resolve):
                    self.resolves.append(action.incident)
                    i = action.incident
                    assert i.resolved_at is not None
                    exclusions.append(Exclusion(i.category, i.district, i.onset, i.resolved_at))

    def fit(self, at: dt.datetime, exclusions: list[Exclusion]) -> BaselineModel:
        since, until = fit_window(at, self.config.baseline, counting_since=START)
        return fit_baseline(
            self.table.history(since, until),
            since=since,
            until=until,
            settings=self.config.baseline,
            timezone=self.config.timezone,
            exclude=exclusions,
        )


def local(y: int, m: int, d: int, h: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=TZ)


# A Monday; the history starts here and evaluation after WARMUP_WEEKS.
START = local(2021, 1, 4)
WARMUP_WEEKS = 8


@pytest.fixture(scope="module")
def quiet_year(config: SpikeConfig) -> tuple[Replay, int]:
    """Eight weeks of warm-up and 26 weeks of ordinary traffic, with nothing planted."""
    weeks = 26
    traffic = Traffic(seed=20210104)
    events = traffic.normal(START, WARMUP_WEEKS + weeks)
    replay = Replay(config)
    replay.run(events, evaluate_from=START + dt.timedelta(weeks=WARMUP_WEEKS))
    return replay, weeks


@dataclass(frozen=True, slots=True)
class Planted:
    start: dt.datetime
    category: str
    district: str
    size: int


def plant_and_replay(
    config: SpikeConfig, *, seed: int, count: int, sizes: Iterable[int], minutes: int
) -> tuple[Replay, list[Planted], list[Event]]:
    """`count` incidents, two a week, on weekdays during opening hours or in the evening (web reports only)."""
    traffic = Traffic(seed=seed)
    weeks = (count + 1) // 2
    events = traffic.normal(START, WARMUP_WEEKS + weeks, categories=(WASTE, LIGHTING))
    rng = random.Random(seed + 1)
    planted: list[Planted] = []
    names = sorted(DISTRICTS)
    for i, size in zip(range(count), sizes, strict=False):
        day = START + dt.timedelta(weeks=WARMUP_WEEKS + i // 2, days=rng.randrange(5))
        start = day.replace(hour=rng.choice([9, 10, 11, 13, 14, 19, 20]), minute=rng.randrange(60))
        p = Planted(start, WASTE if i % 3 else LIGHTING, names[(i * 7) % len(names)], size)
        planted.append(p)
        events.extend(traffic.burst(i, p.start, p.category, p.district, p.size, minutes=minutes))
    replay = Replay(config)
    replay.run(events, evaluate_from=START + dt.timedelta(weeks=WARMUP_WEEKS))
    return replay, planted, events


@pytest.fixture(scope="module")
def planted_run(config: SpikeConfig) -> tuple[Replay, list[Planted], list[Event]]:
    """Twelve planted incidents of 10 to 20 contacts within an hour, on top of ordinary traffic."""
    return plant_and_replay(config, seed=7, count=12, sizes=(10 + (i * 5) % 11 for i in range(12)), minutes=60)


# --------------------------------------------------------------------------------------------------
# The Poisson tail


def brute_sf(k: int, mu: float) -> float:
    """P[X >= k] = 1 - exp(-mu) * sum_{j<k} mu^j / j!, summed in 400-digit decimals (no cancellation left)."""
    with decimal.localcontext() as ctx:
        ctx.prec = 400
        m = decimal.Decimal(mu)
        below = sum((m**j / math.factorial(j) for j in range(k)), decimal.Decimal(0))
        return float(1 - (-m).exp() * below)


@pytest.mark.parametrize("mu", [0.01, 0.1, 0.5, 1.0, 2.5, 7.0, 15.0, 40.0])
def test_poisson_tail_matches_a_brute_force_sum(mu: float) -> None:
    for k in range(0, 60):
        assert poisson_sf(k, mu) == pytest.approx(brute_sf(k, mu), rel=1e-12, abs=1e-300), k


def test_poisson_tail_edges_and_extremes() -> None:
    assert poisson_sf(0, 3.0) == 1.0
    assert poisson_sf(1, 0.0) == 0.0
    assert poisson_sf(0, 0.0) == 1.0
    assert poisson_sf(1, 2.0) == pytest.approx(1 - math.exp(-2.0), rel=1e-15)
    # Far in the tail, where mu**k / k! overflows and the probability underflows: the log stays exact.
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        m = decimal.Decimal(10)
        upper = sum(((-m).exp() * m**j / math.factorial(j) for j in range(2000, 2100)), decimal.Decimal(0))
        assert poisson_logsf(2000, 10.0) == pytest.approx(float(upper.ln()), rel=1e-13)
    assert poisson_sf(2000, 10.0) == 0.0
    # A large mean (a national line): the tail near the mean is about one half, and is monotone in k.
    mu = 250_000.0
    assert 0.45 < poisson_sf(int(mu), mu) < 0.55
    assert poisson_sf(int(mu) + 4000, mu) < 1e-12 < poisson_sf(int(mu) + 2000, mu)  # 8 and 4 sigma


def test_poisson_tail_is_fast() -> None:
    started = time.perf_counter()
    for k in range(2, 40):
        for mu in (0.05, 0.5, 3.0, 12.0):
            poisson_sf(k, mu)
    assert time.perf_counter() - started < 0.05


# --------------------------------------------------------------------------------------------------
# Counting and keys


def test_a_call_about_a_report_category_counts_toward_its_district(config: SpikeConfig) -> None:
    traffic = Traffic(seed=1)
    at = local(2021, 3, 15, 9, 42)
    call = traffic.call(at, WASTE, "Brustem")
    assert increments_for_call(call, config) == [
        Increment(IncidentKey(WASTE, "Brustem"), bucket_start(at, 15), calls=1)
    ]
    service = call.model_copy(update={"topic": CallTopic.APPOINTMENT, "subject": "civil_affairs"})
    assert increments_for_call(service, config) == []
    no_district = call.model_copy(update={"district": None})
    assert increments_for_call(no_district, config) == []


def test_a_report_filed_during_a_call_counts_the_citizen_once(config: SpikeConfig) -> None:
    traffic = Traffic(seed=2)
    at = local(2021, 3, 15, 9, 44)
    report = traffic.report(at, LIGHTING, "Brustem", "Kerkstraat", call_id="call-1")
    call = traffic.call(at, LIGHTING, "Brustem", related_report_id=report.report_id)
    table = CountTable()
    table.add_all(increments_for_call(call, config) + increments_for_report(report, config))
    district = table.buckets(IncidentKey(LIGHTING, "Brustem"))[bucket_start(at, 15)]
    street = table.buckets(IncidentKey(LIGHTING, "Brustem", "Kerkstraat"))[bucket_start(at, 15)]
    assert (district.calls, district.reports, district.observed) == (1, 1, 1)
    assert (street.calls, street.reports, street.observed) == (0, 1, 1)
    # A call without a noted district counts nowhere, and its report still counts the citizen once.
    other = CountTable()
    no_district = traffic.call(at, LIGHTING, None, related_report_id=report.report_id)
    other.add_all(increments_for_call(no_district, config) + increments_for_report(report, config))
    assert other.buckets(IncidentKey(LIGHTING, "Brustem"))[bucket_start(at, 15)].observed == 1
    # A call without a report is a contact of its own.
    alone = CountTable()
    alone.add_all(increments_for_call(traffic.call(at, LIGHTING, "Brustem"), config))
    assert alone.buckets(IncidentKey(LIGHTING, "Brustem"))[bucket_start(at, 15)].observed == 1


def test_buckets_are_aligned_and_refuse_naive_times() -> None:
    at = local(2021, 3, 28, 3, 7)  # the morning clocks went forward
    start = bucket_start(at, 15)
    assert start.tzinfo is dt.UTC
    assert start.minute % 15 == 0
    assert start <= at < start + dt.timedelta(minutes=15)
    assert window_starts(at, 60, 15) == [start - dt.timedelta(minutes=15 * i) for i in (3, 2, 1, 0)]
    with pytest.raises(ValueError, match="naive"):
        bucket_start(dt.datetime(2021, 3, 28, 3, 7), 15)


def test_incident_key_round_trips_through_its_id() -> None:
    for key in (IncidentKey(WASTE, "Sint-Truiden"), IncidentKey(LIGHTING, "Brustem", "Grote Markt")):
        assert IncidentKey.parse(key.id) == key
    assert IncidentKey(WASTE, "Brustem").id == "waste.missed_collection|district:Brustem"
    assert sorted([IncidentKey(WASTE, "A", "x"), IncidentKey(WASTE, "A")])[0].street is None


# --------------------------------------------------------------------------------------------------
# The rule: significance and minimum count


@pytest.mark.parametrize("observed", [2, 3])
def test_a_few_events_on_a_quiet_sunday_never_alert(config: SpikeConfig, observed: int) -> None:
    # Even against the floor rate (a key never seen), where p is astronomically small: below the floor
    # (a benign cluster of neighbours: 2 about one missed bin, up to 4 about one lamp).
    baseline = empty_baseline(config.baseline, config.timezone, START)
    detector = SpikeDetector(config, baseline)
    at = local(2021, 3, 14, 3, 50)  # Sunday night
    for key in (
        IncidentKey(WASTE, "Kerkom"),
        IncidentKey(LIGHTING, "Kerkom", "Hoogstraat"),
        IncidentKey("x.new", "Velm"),
    ):
        counts = {bucket_start(at, 15): BucketCount(bucket_start(at, 15), calls=0, reports=observed)}
        decision = detector.evaluate(key, counts, at)
        assert decision.p_value < 1e-3  # improbable under the floor rate ...
        assert not decision.is_spike  # ... but too few to be an incident
        assert decision.reason.startswith("below min_count")


def test_judge_needs_both_the_minimum_count_and_significance() -> None:
    assert judge(5, 0.1, min_count=5, significance=1e-4)[0]
    assert not judge(4, 0.01, min_count=5, significance=1e-4)[0]
    assert not judge(9, 5.0, min_count=5, significance=1e-4)[0]


class FixedRate:
    """An expectation of `per_hour` contacts an hour for every key (a stub baseline)."""

    def __init__(self, per_hour: float) -> None:
        self.per_hour = per_hour

    def expected_buckets(self, key: IncidentKey, starts: Iterable[dt.datetime], bucket_minutes: int) -> float:
        return self.per_hour * bucket_minutes / 60.0 * len(list(starts))


def street_reports(
    at: dt.datetime, streets: list[str], *, district: str, category: str
) -> tuple[dict[dt.datetime, BucketCount], dict[str, dict[dt.datetime, BucketCount]]]:
    """Reports in these streets, one each in the last minutes before `at`: (district buckets, street buckets)."""
    district_counts: dict[dt.datetime, BucketCount] = {}
    per_street: dict[str, dict[dt.datetime, BucketCount]] = {}
    for i, street in enumerate(streets):
        start = bucket_start(at - dt.timedelta(minutes=2 * (len(streets) - 1 - i)), 15)
        one = BucketCount(start, reports=1)
        district_counts[start] = district_counts[start] + one if start in district_counts else one
        mine = per_street.setdefault(street, {})
        mine[start] = mine[start] + one if start in mine else one
    return district_counts, per_street


@pytest.mark.parametrize("category", [SEWER, WASTE, LIGHTING, TREES])
def test_three_reports_in_two_streets_of_a_quiet_district_are_two_things(config: SpikeConfig, category: str) -> None:
    # A benign cluster of neighbours is about one thing in one street: three reports naming two streets
    # are at least two things, and two things in two quiet hours are beyond chance.
    detector = SpikeDetector(config, FixedRate(0.001))
    at = local(2021, 3, 10, 3, 40)
    key = IncidentKey(category, "Groot-Gelmen")
    district, streets = street_reports(
        at, ["Dorpsstraat", "Kerkweg", "Dorpsstraat"], district=key.district, category=category
    )
    decision = detector.evaluate(key, district, at, street_counts=streets["Dorpsstraat"])
    assert decision.observed == 3 < config.for_category(category).min_count
    assert decision.is_spike
    assert decision.reason.startswith("spike over streets")
    # The same three in one street: one benign cluster, held by the floor.
    district, streets = street_reports(at, ["Dorpsstraat"] * 3, district=key.district, category=category)
    single = detector.evaluate(key, district, at, street_counts=streets["Dorpsstraat"])
    assert not single.is_spike
    assert single.reason.startswith("below min_count")
    # Two reports in two streets: below `spread_min_count`.
    district, streets = street_reports(at, ["Dorpsstraat", "Kerkweg"], district=key.district, category=category)
    assert not detector.evaluate(key, district, at, street_counts=streets["Kerkweg"]).is_spike
    # Without the street of the contact judged (a call, a timer step), the floor alone.
    district, _ = street_reports(
        at, ["Dorpsstraat", "Kerkweg", "Dorpsstraat"], district=key.district, category=category
    )
    assert not detector.evaluate(key, district, at).is_spike


def test_two_things_must_be_beyond_chance_and_the_floor_route_still_decides_above_it(config: SpikeConfig) -> None:
    at = local(2021, 3, 10, 10, 40)
    key = IncidentKey(SEWER, "Brustem")
    district, streets = street_reports(
        at, ["Kerkstraat", "Ordingenstraat", "Kerkstraat"], district=key.district, category=SEWER
    )
    # 0.2 an hour: three contacts in two hours are improbable (p ~ 8e-3), but two things are not.
    busy = SpikeDetector(config, FixedRate(0.2)).evaluate(key, district, at, street_counts=streets["Kerkstraat"])
    assert not busy.is_spike
    # The district's other windows (the 6-hour one) are judged the same way: still no spike.
    assert busy.spiking_windows == ()
    # Spread off (the default entry: unknown codes): the floor alone.
    unknown = IncidentKey("x.new", "Brustem")
    quiet = SpikeDetector(config, FixedRate(0.001))
    assert config.default.spread_min_count is None
    assert not quiet.evaluate(unknown, district, at, street_counts=streets["Kerkstraat"]).is_spike
    # A street key is one street: never the spread route.
    street_key = IncidentKey(SEWER, "Brustem", "Kerkstraat")
    assert not quiet.evaluate(street_key, streets["Kerkstraat"], at, street_counts=streets["Kerkstraat"]).is_spike


def test_judge_spread_needs_two_places_the_count_and_two_improbable_things() -> None:
    assert judge_spread(3, 0.002, reports_here=2, reports_elsewhere=1, spread_min_count=3, significance=1e-5)[0]
    assert not judge_spread(3, 0.002, reports_here=3, reports_elsewhere=0, spread_min_count=3, significance=1e-5)[0]
    # A late report whose own street is no longer in the window: the others may all be one street.
    assert not judge_spread(3, 0.002, reports_here=0, reports_elsewhere=3, spread_min_count=3, significance=1e-5)[0]
    assert not judge_spread(2, 0.002, reports_here=1, reports_elsewhere=1, spread_min_count=3, significance=1e-5)[0]
    spike, p_two = judge_spread(4, 0.05, reports_here=2, reports_elsewhere=2, spread_min_count=3, significance=1e-5)
    assert not spike
    assert p_two == pytest.approx(poisson_sf(2, 0.05))


def test_a_category_that_is_not_spike_prone_never_alerts(config: SpikeConfig) -> None:
    detector = SpikeDetector(config, empty_baseline(config.baseline, config.timezone, START))
    at = local(2021, 3, 15, 10)
    counts = {bucket_start(at, 15): BucketCount(bucket_start(at, 15), calls=30, reports=30)}
    decision = detector.evaluate(IncidentKey("road.damage", "Brustem"), counts, at)
    assert not decision.is_spike
    assert decision.reason.startswith("category not spike-prone")


def test_the_slow_window_catches_a_slow_rise(config: SpikeConfig) -> None:
    # Lighting: seven reports of one dark district spread over five hours never fill the 2-hour window
    # to 5, but the 8-hour window sees them all.
    detector = SpikeDetector(config, empty_baseline(config.baseline, config.timezone, START))
    key = IncidentKey(LIGHTING, "Gorsem")
    first = local(2021, 11, 8, 17)
    counts = {}
    for i in range(7):
        start = bucket_start(first + dt.timedelta(minutes=45 * i), 15)
        counts[start] = BucketCount(start, reports=1)
    at = first + dt.timedelta(minutes=45 * 6)
    decision = detector.evaluate(key, counts, at)
    assert decision.is_spike
    assert decision.window_minutes == 480
    assert decision.observed == 7
    short_only = detector.evaluate(IncidentKey(WASTE, "Gorsem"), counts, at)  # waste has no slow window
    assert max(config.for_category(WASTE).windows) == 120
    assert not short_only.is_spike
    assert short_only.window_minutes == 120  # the main window is shown


def test_one_lamp_and_an_ordinary_contact_hours_later_do_not_fire_the_slow_window(config: SpikeConfig) -> None:
    # One dark lamp: four neighbours over an evening, and a report from another street five hours after the
    # first. Against an empty baseline the Poisson tail of 5 in 8 hours is far below the significance and 5 is
    # the main window's floor, but 8 hours gather a benign cluster and the district's own contacts: the slow
    # window's floor is `slow_min_count` (7, the slow rise above reaches it).
    settings = config.for_category(LIGHTING)
    assert settings.slow_min_count == 7
    detector = SpikeDetector(config, empty_baseline(config.baseline, config.timezone, START))
    key = IncidentKey(LIGHTING, "Gorsem")
    first = local(2021, 11, 8, 18)
    moments = [first + dt.timedelta(minutes=m) for m in (0, 60, 120, 180, 300)]
    counts = {}
    for moment in moments:
        start = bucket_start(moment, 15)
        counts[start] = BucketCount(start, reports=1)
    decision = detector.evaluate(key, counts, moments[-1])
    assert not decision.is_spike
    assert sum(b.observed for b in decision.buckets) == 5  # all five in the 8-hour window
    slow_expected = detector.baseline.expected_buckets(key, (b.start for b in decision.buckets), 15)
    assert poisson_sf(5, slow_expected) < settings.significance / len(settings.windows)
    counts_with_two_more = dict(counts)
    for minutes in (280, 290):
        start = bucket_start(first + dt.timedelta(minutes=minutes), 15)
        counts_with_two_more[start] = BucketCount(start, reports=1)
    assert detector.evaluate(key, counts_with_two_more, moments[-1]).is_spike


# --------------------------------------------------------------------------------------------------
# The baseline


@pytest.fixture(scope="module")
def fitted(config: SpikeConfig, quiet_year: tuple[Replay, int]) -> BaselineModel:
    replay, _ = quiet_year
    return replay.fit(START + dt.timedelta(weeks=WARMUP_WEEKS + 10), [])


def test_baseline_learns_weekday_and_hour_seasonality(fitted: BaselineModel) -> None:
    key = IncidentKey(WASTE, "Sint-Truiden")
    monday_morning = fitted.rate_per_hour(key, local(2021, 6, 7, 9, 30))
    sunday_night = fitted.rate_per_hour(key, local(2021, 6, 6, 3, 30))
    assert monday_morning > 10 * sunday_night
    # The district's collection day (Sint-Truiden: Monday) is its busy day for missed collections.
    day = collection_day("Sint-Truiden")
    on_day = fitted.rate_per_hour(key, local(2021, 6, 7 + day, 10, 30))
    other = fitted.rate_per_hour(key, local(2021, 6, 7 + (day + 3) % 5, 10, 30))
    assert on_day > 3 * other
    # Busy districts expect more than small ones.
    assert fitted.rate_per_hour(key, local(2021, 6, 9, 10)) > fitted.rate_per_hour(
        IncidentKey(WASTE, "Kerkom"), local(2021, 6, 9, 10)
    )


def test_baseline_matches_the_true_rate_on_average(config: SpikeConfig, fitted: BaselineModel) -> None:
    # The expected weekly count per category, summed over districts, is within 20% of the generator's.
    monday = local(2021, 6, 7)
    starts = [monday.astimezone(dt.UTC) + dt.timedelta(minutes=15 * i) for i in range(7 * 96)]
    for category in (WASTE, LIGHTING):
        weekly = sum(fitted.expected_buckets(IncidentKey(category, d), starts, 15) for d in DISTRICTS)
        # Observed counts are contacts: calls plus reports not filed during a call.
        true_weekly = YEARLY[category] / 52.0
        assert weekly == pytest.approx(true_weekly, rel=0.2)


def test_baseline_round_trips_and_ignores_input_order(config: SpikeConfig, quiet_year: tuple[Replay, int]) -> None:
    replay, _ = quiet_year
    at = START + dt.timedelta(weeks=WARMUP_WEEKS + 4)
    since, until = fit_window(at, config.baseline)
    history = list(replay.table.history(since, until))
    shuffled = history[:]
    random.Random(3).shuffle(shuffled)
    kwargs = {"since": since, "until": until, "settings": config.baseline, "timezone": config.timezone}
    a = fit_baseline(history, **kwargs)  # type: ignore[arg-type]
    b = fit_baseline(shuffled, **kwargs)  # type: ignore[arg-type]
    assert a.to_dict() == b.to_dict()
    restored = BaselineModel.from_dict(a.to_dict())
    probe = [local(2021, 5, 3 + d, h, 15) for d in range(7) for h in range(24)]
    for key in (IncidentKey(WASTE, "Velm"), IncidentKey(LIGHTING, "Brustem", "Kerkstraat"), IncidentKey("x", "y")):
        assert [restored.rate_per_hour(key, t) for t in probe] == [a.rate_per_hour(key, t) for t in probe]


def test_holidays_count_as_sundays() -> None:
    def closed(day: dt.date) -> bool:
        return day == dt.date(2021, 4, 5)  # Easter Monday

    assert cell_of(local(2021, 4, 5, 10), TZ, closed) == 6 * 24 + 10
    assert cell_of(local(2021, 4, 12, 10), TZ, closed) == 10


def test_a_past_incident_can_be_left_out_of_the_fit(config: SpikeConfig) -> None:
    key = IncidentKey(WASTE, "Brustem")
    since, until = local(2021, 1, 4), local(2021, 3, 1)
    tuesday = local(2021, 2, 2, 10)
    history = [(key, bucket_start(tuesday + dt.timedelta(minutes=15 * i), 15), 5) for i in range(8)]
    kwargs = {"since": since, "until": until, "settings": config.baseline, "timezone": config.timezone}
    with_it = fit_baseline(history, **kwargs)  # type: ignore[arg-type]
    without = fit_baseline(
        history,
        exclude=[Exclusion(WASTE, "Brustem", tuesday, tuesday + dt.timedelta(hours=3))],
        **kwargs,  # type: ignore[arg-type]
    )
    assert with_it.rate_per_hour(key, local(2021, 3, 2, 10)) > 0.1
    assert without.rate_per_hour(key, local(2021, 3, 2, 10)) == config.baseline.rate_floor_per_hour


# --------------------------------------------------------------------------------------------------
# Normal rhythm: no false alerts


def test_normal_weekly_rhythm_raises_no_false_alerts(quiet_year: tuple[Replay, int]) -> None:
    replay, weeks = quiet_year
    assert replay.evaluations > 3_000
    # Target from the issue: at most one false alert per month across all categories. This seeded run
    # (4 spike-prone categories x 15 districts and their streets, ~2,600 contacts in 26 weeks) sees one:
    # 11 contacts in 2 hours where 2.3 were due on the city centre's collection day, a chance of 4e-5
    # even under the generator's true rate. Allow at most two, a third of the target.
    fires = [(i.incident_id, i.observed, round(i.expected, 2)) for i, _ in replay.fires]
    assert len(fires) / (weeks / 4.345) <= 1.0, fires
    assert len(fires) <= 2, fires


def test_a_busy_monday_morning_is_not_a_spike(config: SpikeConfig, fitted: BaselineModel) -> None:
    detector = SpikeDetector(config, fitted)
    key = IncidentKey(WASTE, "Sint-Truiden")
    at = local(2021, 6, 14, 10, 50)  # Monday
    starts = window_starts(at, 120, 15)
    expected = fitted.expected_buckets(key, starts, 15)
    # Twice the Monday-morning expectation is still ordinary for this hour of the week.
    busy = max(config.for_category(WASTE).min_count, round(2 * expected))
    counts = {
        s: BucketCount(s, calls=busy // len(starts) + (1 if i < busy % len(starts) else 0))
        for i, s in enumerate(starts)
    }
    decision = detector.evaluate(key, counts, at)
    assert decision.observed == busy
    assert not decision.is_spike, decision.reason
    # The same count at 3 a.m. on a Sunday is a spike.
    night = local(2021, 6, 13, 3, 50)
    night_starts = window_starts(night, 120, 15)
    night_counts = {s: BucketCount(s, calls=c.calls) for s, c in zip(night_starts, counts.values(), strict=True)}
    assert detector.evaluate(key, night_counts, night).is_spike


# --------------------------------------------------------------------------------------------------
# Planted spikes: detected, and how fast


@dataclass(frozen=True, slots=True)
class Detection:
    planted: Planted
    first_event: dt.datetime
    detected_at: dt.datetime
    events_until_detected: int  # the incident's messages (calls, reports) up to and including the one that fired

    @property
    def delay_minutes(self) -> float:
        return (self.detected_at - self.first_event) / dt.timedelta(minutes=1)

    @property
    def delay_buckets(self) -> int:
        step = dt.timedelta(minutes=15)
        return (bucket_start(self.detected_at, 15) - bucket_start(self.first_event, 15)) // step


def detections(replay: Replay, planted: list[Planted], events: list[Event]) -> list[Detection | None]:
    """Per planted incident, the first Fire of its category and district after its first event, or None."""
    out: list[Detection | None] = []
    for index, p in enumerate(planted):
        own = sorted(e.at for e in events if e.planted == index)
        hit = next(
            (
                at
                for incident, at in replay.fires
                if (incident.category, incident.district) == (p.category, p.district)
                and own[0] <= at <= own[-1] + dt.timedelta(hours=2)
            ),
            None,
        )
        out.append(None if hit is None else Detection(p, own[0], hit, sum(1 for t in own if t <= hit)))
    return out


def stray_fires(replay: Replay, planted: list[Planted]) -> list[str]:
    days = {(p.category, p.district, p.start.date()) for p in planted}
    return [i.incident_id for i, at in replay.fires if (i.category, i.district, at.astimezone(TZ).date()) not in days]


def test_planted_bursts_are_detected_within_minutes(planted_run: tuple[Replay, list[Planted], list[Event]]) -> None:
    replay, planted, events = planted_run
    found = detections(replay, planted, events)
    assert all(found), [p for p, f in zip(planted, found, strict=True) if f is None]
    hits = [f for f in found if f is not None]
    delays = [h.delay_minutes for h in hits]
    # What this seeded run observes (12 bursts of 10-20 contacts within an hour; 4 to 8 of a burst's
    # messages before its alert): median 14 minutes, worst 42 (10 contacts in an hour on a lighting
    # key), at most 3 buckets after the bucket of the first event.
    assert statistics.median(delays) <= 15.0
    assert max(delays) <= 45.0
    assert max(h.delay_buckets for h in hits) <= 3
    assert max(h.events_until_detected for h in hits) <= 8
    # ... and nothing else alerts in those 12 weeks.
    assert stray_fires(replay, planted) == []


def test_slow_incidents_of_eight_contacts_in_two_hours_are_all_detected(config: SpikeConfig) -> None:
    # The bar: every incident of 8 or more reports within 2 hours. Slow ones wait for min_count
    # contacts, so the delay follows their pace: median 53 minutes, worst 99, all within their 2 hours,
    # after 4 to 9 of their messages (a report filed during a call is two messages, one contact).
    replay, planted, events = plant_and_replay(config, seed=3, count=24, sizes=[8] * 24, minutes=120)
    found = detections(replay, planted, events)
    assert all(found), [p for p, f in zip(planted, found, strict=True) if f is None]
    hits = [f for f in found if f is not None]
    assert statistics.median(h.delay_minutes for h in hits) <= 60.0
    assert max(h.delay_minutes for h in hits) <= 120.0
    assert max(h.events_until_detected for h in hits) <= 9
    # With the floor at 4 (issue 13) one coincidence in this month of synthetic traffic may fire.
    assert len(stray_fires(replay, planted)) <= 1


# --------------------------------------------------------------------------------------------------
# Event time: order does not matter


def decisions_at_bucket_ends(
    table: CountTable, detector: SpikeDetector, keys: Iterable[IncidentKey], ends: Iterable[dt.datetime]
) -> Iterator[Decision]:
    for at in ends:
        for key in keys:
            yield detector.evaluate(key, table.buckets(key), at)


def test_shuffled_input_gives_the_same_decisions_as_sorted_input(
    config: SpikeConfig, planted_run: tuple[Replay, list[Planted], list[Event]]
) -> None:
    replay, planted, events = planted_run
    p = planted[0]
    day_start = p.start.replace(hour=0, minute=0)
    window = [e for e in events if day_start - dt.timedelta(days=1) <= e.at < day_start + dt.timedelta(days=1)]
    shuffled = window[:]
    random.Random(5).shuffle(shuffled)
    in_order, out_of_order = CountTable(), CountTable()
    for e in sorted(window, key=lambda e: e.at):
        in_order.add_all(increments(e, config))
    for e in shuffled:
        out_of_order.add_all(increments(e, config))
    model = replay.fit(day_start, [])
    detector = SpikeDetector(config, model)
    keys = sorted(set(in_order.keys()) | {IncidentKey(p.category, p.district)})
    ends = [day_start + dt.timedelta(minutes=15 * i + 14) for i in range(96)]
    a = list(decisions_at_bucket_ends(in_order, detector, keys, ends))
    b = list(decisions_at_bucket_ends(out_of_order, detector, keys, ends))
    assert a == b
    assert any(d.is_spike for d in a)  # the planted incident is in there


def test_a_late_event_counts_in_the_window_it_belongs_to(config: SpikeConfig) -> None:
    detector = SpikeDetector(config, empty_baseline(config.baseline, config.timezone, START))
    traffic = Traffic(seed=9)
    key = IncidentKey(WASTE, "Duras")
    at = local(2021, 5, 4, 10, 0)
    table = CountTable()
    for i in range(3):  # below the floor of 4
        table.add_all(increments_for_call(traffic.call(at + dt.timedelta(minutes=5 * i), WASTE, "Duras"), config))
    now = at + dt.timedelta(minutes=40)
    assert not detector.evaluate(key, table.buckets(key), now).is_spike
    # A call made at 10:02 but logged only now lands in the 10:00 bucket, and completes the spike.
    table.add_all(increments_for_call(traffic.call(at + dt.timedelta(minutes=2), WASTE, "Duras"), config))
    late = detector.evaluate(key, table.buckets(key), now)
    assert late.is_spike
    assert late.onset == bucket_start(at, 15)


# --------------------------------------------------------------------------------------------------
# Settings


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load(CONFIG_DIR / "categories.yaml", CONFIG_DIR / "assignees.yaml")


def test_every_catalogue_category_has_sensible_settings(config: SpikeConfig, catalogue: Catalogue) -> None:
    for code, category in catalogue.categories.items():
        s = config.for_category(code)
        assert s.code == code, f"{code} has no entry of its own in spikes.yaml"
        # One source of truth in spirit: the catalogue says which categories come in spikes.
        assert s.spike_prone == category.spike_prone, code
        # The floor stands against a benign cluster of neighbours (2-4 reports about one thing); above it
        # the evidence decides (issue 13).
        assert s.min_count >= 4
        assert s.street_min_count >= 4
        assert 0 < s.significance <= 1e-4
        assert s.quiet_minutes >= s.span_minutes
    for code in ("waste.missed_collection", "lighting.defect", "sewer.blocked", "green.fallen_tree"):
        assert config.for_category(code).spike_prone
    unknown = config.for_category("water.flooding")
    assert unknown.code == "default"
    assert unknown.spike_prone
    assert unknown.min_count >= 8


def test_calls_count_under_the_category_their_subject_stands_for(config: SpikeConfig, catalogue: Catalogue) -> None:
    def category_of(subject: str) -> str | None:
        found = catalogue.category_for_call_subject(subject)
        return None if found is None else found.code

    traffic = Traffic(seed=4)
    at = local(2021, 3, 15, 9, 42)
    short = traffic.call(at, "afval_niet_opgehaald", "Velm")  # the telephony system's own subject
    assert [i.key for i in increments_for_call(short, config, category_of)] == [IncidentKey(WASTE, "Velm")]
    appointment = short.model_copy(update={"topic": CallTopic.APPOINTMENT, "subject": "recycling_park"})
    assert increments_for_call(appointment, config, category_of) == []
    unknown = short.model_copy(update={"subject": "water.flooding"})  # report topic, a subject nobody knows
    assert [i.key for i in increments_for_call(unknown, config, category_of)] == [IncidentKey("water.flooding", "Velm")]


def raw_settings() -> dict[str, Any]:
    loaded = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["categories"][WASTE].update(bucket_minutes=7), "bucket_minutes must divide 60"),
        (lambda r: r["categories"][WASTE].update(window_minutes=50), "whole multiples"),
        (lambda r: r["categories"][LIGHTING].update(quiet_minutes=120), "quiet_minutes must be at least"),
        (lambda r: r["categories"][LIGHTING].update(slow_window_minutes=60), "slow_window_minutes must be longer"),
        (lambda r: r["categories"][LIGHTING].update(slow_min_count=4), "slow_min_count must be at least"),
        (lambda r: r["categories"][WASTE].update(significance=1.5), "probability"),
        (lambda r: r["categories"][WASTE].update(update_growth=1.0), "update_growth"),
        (lambda r: r["categories"][WASTE].update(min_cuont=5), "unknown field"),
        (lambda r: r["baseline"].update(half_lfe_weeks=3), "unknown field"),
        (lambda r: r.update(timezone="Mars/Olympus"), "unknown timezone"),
        (lambda r: r["categories"].pop("default"), "default"),
    ],
)
def test_invalid_settings_are_refused(change: Any, message: str) -> None:
    raw = copy.deepcopy(raw_settings())
    change(raw)
    with pytest.raises(SpikeConfigError, match=message):
        SpikeConfig.from_dict(raw)


def test_a_category_inherits_what_it_does_not_set(config: SpikeConfig) -> None:
    road = config.for_category("road.damage")
    assert road.bucket_minutes == config.default.bucket_minutes
    assert road.update_interval_minutes == config.default.update_interval_minutes
    assert road.templates.district_nl != config.default.templates.district_nl  # but its own templates

"""A second, independent traffic model for the spike benchmark: another city's rhythm, written from scratch.

It shares nothing with `hub.simulator` but the message contracts, so a detector tuned to one generator
shows it here. What differs on purpose:

* district sizes: one large town centre, a few mid-sized districts, many small villages and some tiny
  hamlets, with sizes unrelated to the prior's `district_weights` in spikes.yaml (the prior is wrong here);
* collection days: every district has its own weekday, on which missed-collection reports are five
  times as frequent from 7 to 18 h (the high baseline on which five reports may not be enough);
* benign clusters of neighbours: 2-4 reports of one lamp in one street over an evening, 2-3 passers-by
  about one fallen tree within the hour, 2 neighbours about one missed bin on the collection day, 2-3
  reports of one blocked drain: everyday work orders, not incidents;
* seasons: fallen trees in the autumn and winter storms, dark streets in the long nights, blocked drains
  in the summer thunderstorms, green maintenance in spring;
* a contact centre open 08:30-17:00 on weekdays only (no Saturday), calls filing a report 70% of the time;
* planted incidents of 8 to 40 contacts, fast and slow (8 contacts spread over two hours), by day and at
  night (web and app only), some of them on a district's collection day.

Deterministic for a seed. `simulate_city2(year, seed)` returns a `hub.simulator.Scenario` with the planted
incidents and the exact ids of their calls and reports, as the benchmark expects of the first model.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from contracts import CallLogged, CallOutcome, CallTopic, Location, ReportChannel, ReportFiled
from hub.simulator import PlantedIncident, Scenario, SimEvent

TZ = ZoneInfo("Europe/Brussels")
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:city-contact-hub:benchmark-city2")

# (name, relative size, collection weekday, streets): sizes unrelated to spikes.yaml's prior on purpose.
DISTRICTS: tuple[tuple[str, float, int, tuple[str, ...]], ...] = (
    (
        "Zepperen",
        9.0,
        0,
        ("Zepperenweg", "Kasteelstraat", "Bautershovenstraat", "Dorpsstraat", "Molenweg", "Beekstraat"),
    ),
    ("Velm", 3.0, 1, ("Velmerlaan", "Pastoriestraat", "Hoogstraat", "Jonkheerstraat")),
    ("Brustem", 2.5, 2, ("Brustemsesteenweg", "Luikersteenweg", "Ordingenstraat", "Kerkstraat")),
    ("Sint-Truiden", 2.0, 3, ("Grote Markt", "Stapelstraat", "Luikerstraat", "Tiensestraat")),
    ("Aalst", 1.2, 4, ("Aalstersteenweg", "Kerkstraat", "Vinckenbosstraat")),
    ("Kerkom", 1.0, 0, ("Kerkomstraat", "Bergstraat", "Hoogstraat")),
    ("Ordingen", 1.0, 1, ("Ordingenstraat", "Kasteelstraat", "Schoolstraat")),
    ("Halmaal", 0.8, 2, ("Halmaalweg", "Kasteelstraat", "Molenstraat")),
    ("Gelinden", 0.8, 3, ("Steenweg", "Dorpsstraat", "Kortenbosweg")),
    ("Wilderen", 0.7, 4, ("Wilderenlaan", "Kapellekensweg", "Kortestraat")),
    ("Duras", 0.6, 0, ("Durasweg", "Kerkstraat", "Molenweg")),
    ("Gorsem", 0.5, 1, ("Gorsemweg", "Hoogstraat", "Schoolstraat")),
    ("Runkelen", 0.3, 2, ("Runkelenstraat", "Pastorijstraat")),
    ("Groot-Gelmen", 0.2, 3, ("Dorpsstraat", "Kerkweg")),
    ("Engelmanshoven", 0.15, 4, ("Engelmanshovenstraat", "Bovenweg")),
)

# Background contacts per year city-wide, and the months (1-12) each category is busier in, by a factor.
CATEGORIES: dict[str, tuple[float, dict[int, float]]] = {
    "waste.missed_collection": (1800.0, {}),
    "waste.illegal_dumping": (1500.0, {4: 1.3, 5: 1.3, 6: 1.3}),
    "waste.public_bin_full": (600.0, {6: 1.6, 7: 1.8, 8: 1.8}),
    "lighting.defect": (1100.0, {11: 1.8, 12: 2.0, 1: 2.0, 2: 1.6, 6: 0.5, 7: 0.5}),
    "road.damage": (900.0, {1: 1.5, 2: 1.5, 3: 1.3}),
    "sewer.blocked": (450.0, {6: 2.0, 7: 2.2, 8: 2.0}),
    "green.fallen_tree": (300.0, {10: 2.0, 11: 2.5, 12: 2.5, 1: 2.5, 2: 2.0, 3: 1.5, 6: 0.4, 7: 0.4}),
    "green.maintenance": (700.0, {4: 2.0, 5: 2.5, 6: 2.0, 12: 0.3, 1: 0.3}),
    "other": (500.0, {}),
}
FRACTIONS = (("residual", 0.45), ("pmd", 0.3), ("paper", 0.15), ("organic", 0.1))

# Hour of day weights of a contact (local time), with the contact centre open 08:30-17:00 on weekdays.
HOUR_WEIGHTS = (0.1, 0.05, 0.03, 0.03, 0.05, 0.1, 0.4, 0.9, 1.6, 2.0, 1.9, 1.6, 1.2, 1.4, 1.4, 1.3, 1.1, 1.0,
                1.0, 1.1, 1.1, 0.9, 0.5, 0.2)  # fmt: skip
WEEKDAY_WEIGHTS = (1.3, 1.1, 1.0, 1.0, 0.9, 0.55, 0.45)
CALL_SHARE_OPEN = 0.65  # of contacts while the contact centre is open
REPORT_FILED_SHARE = 0.7  # of calls about a problem

# Benign clusters a year, city-wide: (category, clusters per year, sizes, spread in minutes, evening only).
CLUSTERS: tuple[tuple[str, float, tuple[int, ...], int, bool], ...] = (
    ("lighting.defect", 60.0, (2, 2, 3, 3, 4), 180, True),
    ("green.fallen_tree", 25.0, (2, 2, 3), 60, False),
    ("waste.missed_collection", 80.0, (2,), 120, False),
    ("sewer.blocked", 20.0, (2, 3), 120, False),
)


@dataclass(frozen=True)
class _IncidentSpec:
    category: str
    contacts: tuple[int, int]
    minutes: tuple[int, int]
    streets: tuple[int, int]
    night: bool = False
    on_collection_day: bool = False


# Twelve a year: fast and slow, by day and by night, big and just eligible (8 contacts in 2 hours).
INCIDENTS: tuple[_IncidentSpec, ...] = (
    _IncidentSpec("waste.missed_collection", (20, 40), (60, 120), (2, 4), on_collection_day=True),
    _IncidentSpec("waste.missed_collection", (12, 20), (60, 120), (1, 3), on_collection_day=True),
    _IncidentSpec("waste.missed_collection", (8, 10), (100, 120), (1, 2), on_collection_day=True),
    _IncidentSpec("lighting.defect", (10, 20), (60, 120), (1, 2)),
    _IncidentSpec("lighting.defect", (8, 10), (90, 120), (1, 1), night=True),
    _IncidentSpec("lighting.defect", (15, 30), (60, 120), (1, 2), night=True),
    _IncidentSpec("sewer.blocked", (12, 30), (40, 90), (2, 4)),
    _IncidentSpec("sewer.blocked", (8, 12), (60, 120), (1, 3), night=True),
    _IncidentSpec("green.fallen_tree", (10, 25), (30, 90), (1, 3)),
    _IncidentSpec("green.fallen_tree", (8, 10), (90, 120), (1, 2)),
    _IncidentSpec("waste.missed_collection", (25, 40), (60, 90), (3, 5), on_collection_day=True),
    _IncidentSpec("lighting.defect", (8, 12), (100, 120), (1, 2)),
)


def _open(moment: dt.datetime) -> bool:
    local = moment.astimezone(TZ)
    minutes = local.hour * 60 + local.minute
    return local.weekday() < 5 and 8 * 60 + 30 <= minutes < 17 * 60


class _Builder:
    def __init__(self, year: int, seed: int) -> None:
        self.year = year
        self.rng = random.Random(f"city2/{year}/{seed}")
        self.tag = f"c2-{year}-{seed}"
        self.events: list[SimEvent] = []
        self.n = 0

    def _id(self, kind: str) -> str:
        self.n += 1
        return f"{kind}-{self.tag}-{self.n:06d}"

    def contact(
        self, at: dt.datetime, category: str, district: str, street: str, fraction: str | None
    ) -> tuple[str | None, str | None]:
        """One citizen's contact: a call (filing a report or not) while open, else a web or app report."""
        rng = self.rng
        if category == "waste.missed_collection" and fraction is None:
            fraction = rng.choices([f for f, _ in FRACTIONS], [w for _, w in FRACTIONS])[0]
        if category != "waste.missed_collection":
            fraction = None
        call_id = report_id = None
        if _open(at) and rng.random() < CALL_SHARE_OPEN:
            call_id = self._id("call")
            files = rng.random() < REPORT_FILED_SHARE
            if files:
                report_id = self._id("rep")
                filed = at + dt.timedelta(seconds=rng.randint(60, 200))
                self._report(filed, report_id, category, district, street, fraction, ReportChannel.PHONE, call_id)
            duration = rng.randint(90, 420)
            message = CallLogged(
                call_id=call_id,
                started_at=at,
                duration_seconds=duration,
                topic=CallTopic.REPORT,
                subject=category,
                outcome=CallOutcome.REPORT_FILED if files else CallOutcome.ANSWERED_AT_ONCE,
                district=district,
                related_report_id=report_id,
            )
            self._add(at + dt.timedelta(seconds=duration), message, call_id)
        else:
            report_id = self._id("rep")
            channel = ReportChannel.APP if rng.random() < 0.45 else ReportChannel.WEB
            self._report(at, report_id, category, district, street, fraction, channel, None)
        return call_id, report_id

    def _report(
        self,
        at: dt.datetime,
        report_id: str,
        category: str,
        district: str,
        street: str,
        fraction: str | None,
        channel: ReportChannel,
        call_id: str | None,
    ) -> None:
        message = ReportFiled(
            report_id=report_id,
            filed_at=at,
            channel=channel,
            category=category,
            waste_fraction=fraction,
            location=Location(street=street, postcode="3800", district=district),
            description="Melding (benchmark city2)",
            call_id=call_id,
        )
        self._add(at, message, report_id)

    def _add(self, at: dt.datetime, message: CallLogged | ReportFiled, key: str) -> None:
        self.events.append(
            SimEvent(at=at, routing_key=message.routing_key, message=message, event_id=str(uuid.uuid5(NAMESPACE, key)))
        )


def _days(year: int) -> list[dt.date]:
    first = dt.date(year, 1, 1)
    return [first + dt.timedelta(days=i) for i in range((dt.date(year + 1, 1, 1) - first).days)]


def _moment(day: dt.date, rng: random.Random, hours: tuple[float, ...]) -> dt.datetime:
    hour = rng.choices(range(24), hours)[0]
    local = dt.datetime.combine(day, dt.time(hour), tzinfo=TZ) + dt.timedelta(seconds=rng.randrange(3600))
    return local.astimezone(dt.UTC)


def simulate_city2(
    year: int,
    *,
    seed: int,
    incidents: bool = True,
    days: list[dt.date] | None = None,
    plant_on: dt.date | None = None,
) -> Scenario:
    """A year (or the given days) of the second city's traffic, with benign clusters and planted incidents.

    `plant_on`: instead of the year's twelve incidents, one (chosen by the seed) on that day.
    """
    b = _Builder(year, seed)
    rng = b.rng
    all_days = days if days is not None else _days(year)
    n_days = len(all_days)
    total_size = sum(size for _, size, _, _ in DISTRICTS)
    names = [d[0] for d in DISTRICTS]
    sizes = [d[1] for d in DISTRICTS]
    collection = {d[0]: d[2] for d in DISTRICTS}
    streets = {d[0]: d[3] for d in DISTRICTS}

    def district_for(category: str, day: dt.date) -> str:
        if category != "waste.missed_collection":
            return rng.choices(names, sizes)[0]
        # Missed bins are reported on the district's collection day, five times as often.
        weights = [s * (5.0 if collection[n] == day.weekday() else 0.3) for n, s in zip(names, sizes, strict=True)]
        return rng.choices(names, weights)[0]

    # Background: per day, per category, a Poisson number of contacts (seasonal, weekday rhythm).
    for day in all_days:
        for category, (per_year, season) in CATEGORIES.items():
            mean = per_year / 365.0 * season.get(day.month, 1.0) * WEEKDAY_WEIGHTS[day.weekday()] / 0.9
            for _ in range(_poisson(rng, mean)):
                district = district_for(category, day)
                hours = HOUR_WEIGHTS
                if category == "waste.missed_collection":
                    hours = tuple(w if 7 <= h < 18 else w * 0.1 for h, w in enumerate(HOUR_WEIGHTS))
                b.contact(_moment(day, rng, hours), category, district, rng.choice(streets[district]), None)

    # Benign clusters of neighbours: one lamp, one tree, one bin, one drain.
    for category, per_year, cluster_sizes, spread, evening in CLUSTERS:
        for _ in range(_poisson(rng, per_year * n_days / 365.0)):
            day = rng.choice(all_days)
            district = district_for(category, day)
            street = rng.choice(streets[district])
            hours = tuple(w if (not evening or h >= 17 or h < 1) else 0.0 for h, w in enumerate(HOUR_WEIGHTS))
            start = _moment(day, rng, hours)
            for _ in range(rng.choice(cluster_sizes)):
                at = start + dt.timedelta(minutes=rng.uniform(0, spread))
                b.contact(at, category, district, street, None)

    planted: list[PlantedIncident] = []
    if plant_on is not None:
        spec = INCIDENTS[seed % len(INCIDENTS)]
        planted.append(_plant(b, spec, 1, [plant_on], set(), total_size, collection, streets))
    elif incidents:
        used: set[dt.date] = set()
        for number, spec in enumerate(INCIDENTS, start=1):
            planted.append(_plant(b, spec, number, all_days, used, total_size, collection, streets))
    b.events.sort(key=lambda e: (e.at, e.event_id))
    return Scenario(events=b.events, incidents=planted, seed=seed, start=all_days[0], days=n_days)


def _plant(
    b: _Builder,
    spec: _IncidentSpec,
    number: int,
    days: list[dt.date],
    used: set[dt.date],
    total_size: float,
    collection: dict[str, int],
    streets: dict[str, tuple[str, ...]],
) -> PlantedIncident:
    rng = b.rng
    names = [d[0] for d in DISTRICTS]
    while True:
        day = rng.choice(days)
        district = rng.choices(names, [d[1] ** 0.5 for d in DISTRICTS])[0]  # small districts get incidents too
        if day in used or (spec.on_collection_day and collection[district] != day.weekday()):
            continue
        if not spec.night and day.weekday() >= 5 and spec.category == "waste.missed_collection":
            continue
        break
    used.add(day)
    hour = rng.choice([21, 22, 23, 5, 6]) if spec.night else rng.choice([8, 9, 10, 11, 13, 14, 15])
    start = (dt.datetime.combine(day, dt.time(hour), tzinfo=TZ) + dt.timedelta(minutes=rng.randrange(60))).astimezone(
        dt.UTC
    )
    contacts = rng.randint(*spec.contacts)
    minutes = rng.randint(*spec.minutes)
    chosen = tuple(rng.sample(streets[district], min(len(streets[district]), rng.randint(*spec.streets))))
    fraction = rng.choice([f for f, _ in FRACTIONS]) if spec.category == "waste.missed_collection" else None
    call_ids: list[str] = []
    report_ids: list[str] = []
    first = start + dt.timedelta(minutes=rng.uniform(3, 12))  # citizens notice and react
    offsets = sorted(rng.uniform(0, minutes) for _ in range(contacts - 1))
    last = start
    for offset in [0.0, *offsets]:
        at = first + dt.timedelta(minutes=offset)
        last = max(last, at)
        call_id, report_id = b.contact(at, spec.category, district, rng.choice(chosen), fraction)
        if call_id:
            call_ids.append(call_id)
        if report_id:
            report_ids.append(report_id)
    return PlantedIncident(
        incident_id=f"planted-{b.tag}-{number:02d}-{spec.category}",
        kind=spec.category,
        category=spec.category,
        waste_fraction=fraction,
        district=district,
        streets=chosen,
        started_at=start,
        broadcast_at=None,
        ended_at=last + dt.timedelta(minutes=10),
        calls=len(call_ids),
        reports=len(report_ids),
        call_ids=tuple(call_ids),
        report_ids=tuple(report_ids),
    )


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth for small means, a normal approximation above 50)."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, mean**0.5)))
    limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1

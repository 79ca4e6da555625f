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

import bisect
import datetime as dt
import hashlib
import math
import random
import string
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Generic, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts import (
    CallLogged,
    CallOutcome,
    CallTopic,
    Location,
    ReportChannel,
    ReporterContact,
    ReportFiled,
)
from hub.calendar import CityCalendar
from hub.settings import CONFIG_DIR

DEFAULT_PROFILE_PATH = CONFIG_DIR / "simulation.yaml"
DEFAULT_DISTRICTS_PATH = CONFIG_DIR / "districts.yaml"
DEFAULT_CALENDAR_PATH = CONFIG_DIR / "calendar.yaml"

# Placeholders a description template may use.
TEMPLATE_FIELDS = frozenset({"street", "district", "fraction_nl", "house_number"})

# Ids of one run are derived from this namespace, the seed and the arguments (see `_run_namespace`).
SIMULATOR_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:city-contact-hub:simulator")

T = TypeVar("T")


# --------------------------------------------------------------------------------------------------------
# The public result types


@dataclass(frozen=True)
class SimEvent:
    """One message to publish, with the event time and the CloudEvents id it is published under."""

    at: dt.datetime
    routing_key: str
    message: CallLogged | ReportFiled
    event_id: str

    @property
    def subject(self) -> str:
        """The entity the event is about: the call id or the report id (CloudEvents `subject`)."""
        return self.message.call_id if isinstance(self.message, CallLogged) else self.message.report_id


@dataclass(frozen=True)
class PlantedIncident:
    """Ground truth for the spike benchmark: one burst the simulator planted in the traffic."""

    incident_id: str
    kind: str
    category: str
    waste_fraction: str | None
    district: str
    streets: tuple[str, ...]
    started_at: dt.datetime
    broadcast_at: dt.datetime | None
    ended_at: dt.datetime
    calls: int
    reports: int
    # Exactly which messages belong to the incident, for precision/recall in the spike benchmark.
    call_ids: tuple[str, ...] = ()
    report_ids: tuple[str, ...] = ()

    @property
    def incident_key(self) -> str:
        """Category (with fraction) and district, the way the spike detector keys its counts."""
        category = f"{self.category}.{self.waste_fraction}" if self.waste_fraction else self.category
        return f"{category}|district:{self.district}"


@dataclass(frozen=True)
class Scenario:
    """A simulated stretch of traffic: the events in time order and the incidents planted in them."""

    events: list[SimEvent]
    incidents: list[PlantedIncident] = field(default_factory=list)
    seed: int | None = None
    start: dt.date | None = None
    days: int | None = None

    def calls(self) -> list[CallLogged]:
        return [e.message for e in self.events if isinstance(e.message, CallLogged)]

    def reports(self) -> list[ReportFiled]:
        return [e.message for e in self.events if isinstance(e.message, ReportFiled)]

    def counts(self) -> dict[str, int]:
        """Flat counters: `calls`, `reports`, `incidents`, and per `calls.topic.*`, `calls.outcome.*`,
        `calls.subject.*`, `reports.category.*`, `reports.channel.*`, `incidents.kind.*`."""
        counts: Counter[str] = Counter(calls=0, reports=0, incidents=len(self.incidents))
        for event in self.events:
            message = event.message
            if isinstance(message, CallLogged):
                counts["calls"] += 1
                counts[f"calls.topic.{message.topic.value}"] += 1
                counts[f"calls.outcome.{message.outcome.value}"] += 1
                counts[f"calls.subject.{message.subject}"] += 1
            else:
                counts["reports"] += 1
                counts[f"reports.category.{message.category}"] += 1
                counts[f"reports.channel.{message.channel.value}"] += 1
                if message.reporter is not None:
                    counts["reports.with_contact"] += 1
        for incident in self.incidents:
            counts[f"incidents.kind.{incident.kind}"] += 1
            counts["incidents.calls"] += incident.calls
            counts["incidents.reports"] += incident.reports
        return dict(counts)


# --------------------------------------------------------------------------------------------------------
# The traffic profile (simulation.yaml + districts.yaml), validated when loaded


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_weights(weights: Mapping[T, float], what: str) -> None:
    if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
        raise ValueError(f"{what}: weights must be >= 0 with at least one > 0")


class Boost(_Config):
    """Multiplies the weight of the opening hours it matches (every given condition must hold)."""

    factor: float = Field(gt=0)
    weekdays: list[int] | None = None
    hours: list[int] | None = None
    # The first opening day after a day that would have been open but was a public holiday.
    after_closed_weekday: bool = False


class Rhythm(_Config):
    weekday_weights: dict[int, float]
    hour_weights: dict[int, float]
    month_weights: list[float] = Field(min_length=12, max_length=12)
    boosts: list[Boost] = Field(default_factory=list)


class HandleTime(_Config):
    median_s: float = Field(gt=0)
    sigma: float = Field(ge=0)


class TopicProfile(_Config):
    weight: float = Field(ge=0)
    subjects: dict[str, float] = Field(default_factory=dict)
    outcomes: dict[CallOutcome, float]
    handle_time: HandleTime


class CategoryProfile(_Config):
    weight: float = Field(ge=0)
    waste_fraction: bool = False
    templates: list[str] = Field(min_length=1)


class WasteFraction(_Config):
    weight: float = Field(ge=0)
    nl: str


class ReportsProfile(_Config):
    online_share: float = Field(ge=0, lt=1)
    online_channels: dict[ReportChannel, float]
    online_hour_weights: list[float] = Field(min_length=24, max_length=24)
    online_weekday_weights: dict[int, float]
    contact_share: dict[ReportChannel, float]
    house_number_share: float = Field(ge=0, le=1)
    categories: dict[str, CategoryProfile]
    waste_fractions: dict[str, WasteFraction]


class Reporters(_Config):
    first_names: list[str] = Field(min_length=1)
    last_names: list[str] = Field(min_length=1)
    email_domain: str
    phone_prefix: str


class IncidentKind(_Config):
    weight: float = Field(ge=0)
    category: str
    waste_fraction: bool = False
    days: Literal["working", "open", "any"]
    start_hours: tuple[int, int]
    streets: tuple[int, int]
    calls: tuple[int, int]
    online_reports: tuple[int, int]
    report_filed_share: float = Field(ge=0, le=1)
    burst_minutes: tuple[float, float]
    tail_minutes: tuple[float, float]
    tail_share: float = Field(ge=0, le=1)
    broadcast_share: float = Field(ge=0, le=1)
    # Chance that the incident starts while the ContactCenter is open (else: `days` and `start_hours`).
    while_open_share: float = Field(default=0.0, ge=0, le=1)
    templates: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _ranges(self) -> IncidentKind:
        for name in ("start_hours", "streets", "calls", "online_reports", "burst_minutes", "tail_minutes"):
            low, high = getattr(self, name)
            if low < 0 or low > high:
                raise ValueError(f"{name}: [low, high] with 0 <= low <= high")
        if self.start_hours[1] > 23:
            raise ValueError("start_hours: hours are 0..23")
        if self.streets[0] < 1 or self.burst_minutes[0] <= 0 or self.tail_minutes[0] <= 0:
            raise ValueError("an incident needs at least one street and a burst and tail of some minutes")
        return self


class IncidentCatalogue(_Config):
    per_year: int = Field(ge=0)
    kinds: dict[str, IncidentKind] = Field(min_length=1)


class District(_Config):
    name: str
    postcode: str = Field(pattern=r"^[1-9][0-9]{3}$")
    streets: tuple[str, ...] = Field(min_length=1)


class TrafficProfile(_Config):
    """Everything the generator needs to know about the city's traffic. Load it with `load_profile`."""

    version: str
    reference_year: int
    calls_per_year: int = Field(ge=0)
    rhythm: Rhythm
    topics: dict[CallTopic, TopicProfile]
    handle_time_bounds_s: tuple[int, int]
    agents: int = Field(ge=1)
    district_noted_share: float = Field(ge=0, le=1)
    district_weights: dict[str, float] = Field(default_factory=dict)
    reports: ReportsProfile
    reporters: Reporters
    incidents: IncidentCatalogue
    districts: dict[str, District] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> TrafficProfile:
        # Checked here, once, so the generator can trust the profile and a typo fails at load time.
        _check_weights({t: p.weight for t, p in self.topics.items()}, "topics")
        for topic, spec in self.topics.items():
            _check_weights(spec.outcomes, f"topics.{topic}.outcomes")
            if topic is not CallTopic.REPORT:
                _check_weights(spec.subjects, f"topics.{topic}.subjects")
                if spec.outcomes.get(CallOutcome.REPORT_FILED, 0) > 0:
                    raise ValueError(f"topics.{topic}: only `report` calls can end `report_filed`")
            elif spec.subjects:
                raise ValueError("topics.report: the subjects of report calls are the report categories")
        if (
            CallTopic.REPORT in self.topics
            and self.topics[CallTopic.REPORT].outcomes.get(CallOutcome.REPORT_FILED, 0) <= 0
        ):
            raise ValueError("topics.report: `report_filed` must have a weight, or no phone report is ever filed")
        low, high = self.handle_time_bounds_s
        if not 0 < low <= high <= 3600:
            raise ValueError("handle_time_bounds_s: 0 < low <= high <= 3600")
        _check_weights({c: p.weight for c, p in self.reports.categories.items()}, "reports.categories")
        _check_weights({f: p.weight for f, p in self.reports.waste_fractions.items()}, "reports.waste_fractions")
        _check_weights(self.reports.online_channels, "reports.online_channels")
        if ReportChannel.PHONE in self.reports.online_channels:
            raise ValueError("reports.online_channels: phone reports come from calls")
        for name, category in self.reports.categories.items():
            _check_templates(category.templates, f"reports.categories.{name}")
        for name, kind in self.incidents.kinds.items():
            if kind.category not in self.reports.categories:
                raise ValueError(f"incidents.kinds.{name}: unknown category {kind.category!r}")
            _check_templates(kind.templates, f"incidents.kinds.{name}")
        unknown = set(self.district_weights) - set(self.districts)
        if unknown:
            raise ValueError(f"district_weights: unknown districts {sorted(unknown)}")
        _check_weights(self.district_weight_map(), "district_weights")
        return self

    def district_weight_map(self) -> dict[str, float]:
        return {name: self.district_weights.get(name, 1.0) for name in self.districts}


def _check_templates(templates: Iterable[str], where: str) -> None:
    for template in templates:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
        if not names <= TEMPLATE_FIELDS:
            raise ValueError(f"{where}: template {template!r} uses {sorted(names - TEMPLATE_FIELDS)}")


def load_profile(path: Path | None = None, *, districts_path: Path | None = None) -> TrafficProfile:
    """Read the traffic profile and the districts it uses (by default `districts.yaml` next to it)."""
    path = path or DEFAULT_PROFILE_PATH
    districts_path = districts_path or path.with_name("districts.yaml")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw_districts = yaml.safe_load(districts_path.read_text(encoding="utf-8"))["districts"]
    raw["districts"] = {
        name: {"name": name, "postcode": str(spec["postcode"]), "streets": spec["streets"]}
        for name, spec in raw_districts.items()
    }
    return TrafficProfile.model_validate(raw)


def load_calendar(path: Path | None = None) -> CityCalendar:
    return CityCalendar.load(path or DEFAULT_CALENDAR_PATH)


# --------------------------------------------------------------------------------------------------------
# Generation


class _Weighted(Generic[T]):
    """A weighted choice with its cumulative weights computed once (the generator draws ~10^5 times)."""

    def __init__(self, weights: Mapping[T, float]) -> None:
        items = [(key, weight) for key, weight in weights.items() if weight > 0]
        if not items:
            raise ValueError("no positive weight to choose from")
        self.keys = [key for key, _ in items]
        self.cum = list(accumulate(weight for _, weight in items))

    def pick(self, rng: random.Random) -> T:
        index = bisect.bisect_right(self.cum, rng.random() * self.cum[-1])
        return self.keys[min(index, len(self.keys) - 1)]


@dataclass(slots=True)
class _Report:
    filed: int  # epoch seconds
    channel: ReportChannel
    category: str
    fraction: str | None
    district: str
    postcode: str
    street: str
    house_number: str | None
    description: str
    reporter: ReporterContact | None
    call: _Call | None = None
    report_id: str = ""


@dataclass(slots=True)
class _Call:
    started: int  # epoch seconds
    duration: int
    topic: CallTopic
    subject: str
    outcome: CallOutcome
    district: str | None
    agent: int | None
    report: _Report | None = None
    call_id: str = ""

    @property
    def ended(self) -> int:
        return self.started + self.duration


@dataclass(slots=True)
class _Slot:
    """One opening hour (or the open part of it) of one day, in epoch seconds."""

    start: int
    end: int
    open: int  # when the ContactCenter opens and closes that day: a call must end before closing
    close: int
    weight: float


@dataclass(slots=True)
class _PlannedIncident:
    kind: str
    spec: IncidentKind
    district: str
    streets: tuple[str, ...]
    fraction: str | None
    started: int
    burst_end: int  # the broadcast, or when it would have come
    broadcast: int | None
    ended: int
    calls: list[_Call] = field(default_factory=list)
    reports: list[_Report] = field(default_factory=list)


def _ts(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def _local_midnight(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz)


def _days(start: dt.date, days: int) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(days)]


def _after_closed_weekday(calendar: CityCalendar, day: dt.date) -> bool:
    previous = day - dt.timedelta(days=1)
    return previous.weekday() in calendar.opening_hours and calendar.is_public_holiday(previous)


def _opening_slots(profile: TrafficProfile, calendar: CityCalendar, days: Iterable[dt.date]) -> list[_Slot]:
    """The weighted opening hours of the given days: where phone calls can land."""
    rhythm = profile.rhythm
    tz = calendar.tz
    slots: list[_Slot] = []
    for day in days:
        if not calendar.is_open_day(day):
            continue
        open_at, close_at = calendar.opening_hours[day.weekday()]
        # Opening hours never fall in a DST gap, so local wall times are safe here.
        open_ts = _ts(dt.datetime.combine(day, open_at, tzinfo=tz))
        close_ts = _ts(dt.datetime.combine(day, close_at, tzinfo=tz))
        day_weight = rhythm.weekday_weights.get(day.weekday(), 1.0) * rhythm.month_weights[day.month - 1]
        after_closed = _after_closed_weekday(calendar, day)
        for hour in range(open_at.hour, close_at.hour + (1 if close_at.minute else 0)):
            hour_start = _ts(dt.datetime.combine(day, dt.time(hour), tzinfo=tz))
            start, end = max(open_ts, hour_start), min(close_ts, hour_start + 3600)
            if end <= start:
                continue
            weight = day_weight * rhythm.hour_weights.get(hour, 1.0) * (end - start) / 3600
            for boost in rhythm.boosts:
                if (
                    (boost.weekdays is None or day.weekday() in boost.weekdays)
                    and (boost.hours is None or hour in boost.hours)
                    and (not boost.after_closed_weekday or after_closed)
                ):
                    weight *= boost.factor
            slots.append(_Slot(start, end, open_ts, close_ts, weight))
    return slots


def _online_slots(profile: TrafficProfile, calendar: CityCalendar, start: dt.date, days: int) -> list[_Slot]:
    """Every hour of the range, weighted for web/app reports. Stepping in UTC handles DST days (23 or 25 h)."""
    reports, rhythm, tz = profile.reports, profile.rhythm, calendar.tz
    first = _ts(_local_midnight(start, tz))
    last = _ts(_local_midnight(start + dt.timedelta(days=days), tz))
    slots = []
    for hour_start in range(first, last, 3600):
        local = dt.datetime.fromtimestamp(hour_start, tz)
        weight = (
            reports.online_hour_weights[local.hour]
            * reports.online_weekday_weights.get(local.weekday(), 1.0)
            * rhythm.month_weights[local.month - 1]
        )
        slots.append(_Slot(hour_start, hour_start + 3600, first, last, weight))
    return slots


def _reference_days(profile: TrafficProfile) -> list[dt.date]:
    year = profile.reference_year
    return _days(dt.date(year, 1, 1), (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days)


def expected_calls(profile: TrafficProfile, calendar: CityCalendar, start: dt.date, days: int) -> int:
    """Calls a range gets at the profile's yearly rate: its share of the reference year's opening-hour weight."""
    reference = sum(s.weight for s in _opening_slots(profile, calendar, _reference_days(profile)))
    in_range = sum(s.weight for s in _opening_slots(profile, calendar, _days(start, days)))
    return round(profile.calls_per_year * in_range / reference) if reference else 0


def expected_online_reports(
    profile: TrafficProfile, calendar: CityCalendar, start: dt.date, days: int, *, load: float = 1.0
) -> int:
    """Web/app/e-mail reports a range gets: the yearly number implied by the phone reports and `online_share`,
    spread by the online rhythm (every hour of every day). `load` scales it along with a non-default call total.
    """
    topics = profile.topics
    report = topics.get(CallTopic.REPORT)
    if report is None:
        return 0
    topic_share = report.weight / sum(t.weight for t in topics.values())
    filed_share = report.outcomes.get(CallOutcome.REPORT_FILED, 0.0) / sum(report.outcomes.values())
    share = profile.reports.online_share
    per_year = profile.calls_per_year * topic_share * filed_share * share / (1 - share)
    year = profile.reference_year
    reference = sum(
        s.weight for s in _online_slots(profile, calendar, dt.date(year, 1, 1), len(_reference_days(profile)))
    )
    in_range = sum(s.weight for s in _online_slots(profile, calendar, start, days))
    return round(per_year * load * in_range / reference) if reference else 0


class _Generator:
    """One run's state: the profile's precomputed choices and the random stream."""

    def __init__(self, profile: TrafficProfile, calendar: CityCalendar, rng: random.Random) -> None:
        self.profile = profile
        self.calendar = calendar
        self.rng = rng
        reports = profile.reports
        self.topic = _Weighted({t: p.weight for t, p in profile.topics.items()})
        self.subject = {t: _Weighted(p.subjects) for t, p in profile.topics.items() if p.subjects}
        self.outcome = {t: _Weighted(p.outcomes) for t, p in profile.topics.items()}
        self.category = _Weighted({c: p.weight for c, p in reports.categories.items()})
        self.fraction = _Weighted({f: p.weight for f, p in reports.waste_fractions.items()})
        self.online_channel = _Weighted(reports.online_channels)
        # Someone reporting a dark street or a fallen tree right now uses the app or the web form, not e-mail.
        urgent = {c: w for c, w in reports.online_channels.items() if c in (ReportChannel.WEB, ReportChannel.APP)}
        self.incident_channel = _Weighted(urgent) if any(w > 0 for w in urgent.values()) else self.online_channel
        self.district = _Weighted(profile.district_weight_map())

    # -- calls

    def handle_time(self, topic: CallTopic) -> int:
        spec = self.profile.topics[topic].handle_time
        low, high = self.profile.handle_time_bounds_s
        return int(min(high, max(low, self.rng.lognormvariate(math.log(spec.median_s), spec.sigma))))

    def background_call(self, slot: _Slot) -> _Call:
        rng = self.rng
        topic = self.topic.pick(rng)
        outcome = self.outcome[topic].pick(rng)
        subject = self.category.pick(rng) if topic is CallTopic.REPORT else self.subject[topic].pick(rng)
        abandoned = outcome is CallOutcome.ABANDONED
        duration = 0 if abandoned else min(self.handle_time(topic), slot.close - slot.open - 2)
        # The call must end before closing time: the telephony system logs it while the centre is open.
        # Near closing time that pulls a long call's start a little earlier, as real agents would not
        # take a half-hour call at 15:59 either.
        latest = min(slot.end - 1, slot.close - duration - 1)
        started = rng.randint(slot.start, latest) if latest >= slot.start else max(slot.open, latest)
        noted = topic is CallTopic.REPORT or rng.random() < self.profile.district_noted_share
        call = _Call(
            started=started,
            duration=duration,
            topic=topic,
            subject=subject,
            outcome=outcome,
            district=self.district.pick(rng) if noted else None,
            agent=None if abandoned else rng.randint(1, self.profile.agents),
        )
        if outcome is CallOutcome.REPORT_FILED:
            assert call.district is not None
            call.report = self.report(
                filed=self.filed_during(call),
                channel=ReportChannel.PHONE,
                category=subject,
                district=call.district,
            )
            call.report.call = call
        return call

    def filed_during(self, call: _Call) -> int:
        # The agent files the report in the reporting system during the call, after hearing the problem.
        return call.started + max(1, int(call.duration * self.rng.uniform(0.35, 0.9)))

    # -- reports

    def report(
        self,
        *,
        filed: int,
        channel: ReportChannel,
        category: str,
        district: str,
        streets: tuple[str, ...] | None = None,
        fraction: str | None = None,
        templates: list[str] | None = None,
    ) -> _Report:
        rng, profile = self.rng, self.profile
        spec = profile.reports.categories[category]
        if spec.waste_fraction and fraction is None:
            fraction = self.fraction.pick(rng)
        street = rng.choice(streets or profile.districts[district].streets)
        house_number: str | None = None
        if rng.random() < profile.reports.house_number_share:
            house_number = str(rng.randint(1, 160)) + ("A" if rng.random() < 0.08 else "")
        options = templates or spec.templates
        if house_number is None:
            # A template that names a house number needs one; prefer those that do not.
            options = [t for t in options if "{house_number}" not in t] or options
        template = rng.choice(options)
        if house_number is None and "{house_number}" in template:
            house_number = str(rng.randint(1, 160))
        fraction_nl = profile.reports.waste_fractions[fraction].nl if fraction else "afval"
        description = template.format(
            street=street, district=district, fraction_nl=fraction_nl, house_number=house_number
        )
        return _Report(
            filed=filed,
            channel=channel,
            category=category,
            fraction=fraction,
            district=district,
            postcode=profile.districts[district].postcode,
            street=street,
            house_number=house_number,
            description=description[:1].upper() + description[1:],
            reporter=self.reporter(channel),
        )

    def reporter(self, channel: ReportChannel) -> ReporterContact | None:
        rng, spec = self.rng, self.profile.reporters
        if rng.random() >= self.profile.reports.contact_share.get(channel, 0.0):
            return None
        first, last = rng.choice(spec.first_names), rng.choice(spec.last_names)
        phone = f"{spec.phone_prefix} {rng.randint(10, 99)} {rng.randint(10, 99)}"
        email = f"{first}.{last}{rng.randint(1, 99)}@{spec.email_domain}".lower()
        # Web forms and the app know the e-mail address; agents on the phone note the phone number first.
        by_phone = channel is ReportChannel.PHONE
        return ReporterContact(
            name=f"{first} {last}",
            phone=phone if by_phone or rng.random() < 0.5 else None,
            email=email if not by_phone or rng.random() < 0.4 else None,
        )

    def online_report(self, slot: _Slot) -> _Report:
        district = self.district.pick(self.rng)
        return self.report(
            filed=self.rng.randint(slot.start, slot.end - 1),
            channel=self.online_channel.pick(self.rng),
            category=self.category.pick(self.rng),
            district=district,
        )

    # -- incidents

    def kinds_for(self, count: int) -> list[str]:
        """`count` incident kinds in proportion to their weights (largest remainder), in random order.

        Proportional rather than drawn: a benchmark year of twelve incidents should contain every spike-prone
        kind, not, by bad luck, one missed collection and eleven fallen trees.
        """
        kinds = self.profile.incidents.kinds
        total = sum(kind.weight for kind in kinds.values())
        quotas = {name: count * kind.weight / total for name, kind in kinds.items()}
        chosen = {name: int(quota) for name, quota in quotas.items()}
        by_remainder = sorted(quotas, key=lambda name: (-(quotas[name] - chosen[name]), name))
        for name in by_remainder[: count - sum(chosen.values())]:
            chosen[name] += 1
        names = [name for name in kinds for _ in range(chosen[name])]
        self.rng.shuffle(names)
        return names

    def incident_start(self, spec: IncidentKind, day: dt.date) -> int | None:
        """When an incident of this kind starts on `day`, or None if the kind cannot happen that day."""
        rng, calendar, tz = self.rng, self.calendar, self.calendar.tz
        if rng.random() < spec.while_open_share:
            if not calendar.is_open_day(day):
                return None
            # Somewhere in the opening hours, at least half an hour before closing so callers can still call.
            open_at, close_at = calendar.opening_hours[day.weekday()]
            first = _ts(dt.datetime.combine(day, open_at, tzinfo=tz))
            last = _ts(dt.datetime.combine(day, close_at, tzinfo=tz)) - 1800
            return rng.randint(first, max(first, last))
        if (spec.days == "working" and not calendar.is_working_day(day)) or (
            spec.days == "open" and not calendar.is_open_day(day)
        ):
            return None
        local = dt.datetime.combine(day, dt.time(rng.randint(*spec.start_hours), rng.randrange(60)), tzinfo=tz)
        # Normalised through UTC: a start hour in the DST gap (02:xx on the last Sunday of March) moves on.
        return _ts(local)

    def plan_incident(
        self, name: str, start: dt.date, days: int, taken: set[tuple[str, str, dt.date]]
    ) -> _PlannedIncident | None:
        """Pick day, time and place of one incident; None if nothing fits in the range after some tries."""
        rng, tz = self.rng, self.calendar.tz
        spec = self.profile.incidents.kinds[name]
        range_end = _ts(_local_midnight(start + dt.timedelta(days=days), tz))
        for _ in range(200):
            day = start + dt.timedelta(days=rng.randrange(days))
            district = self.district.pick(rng)
            if (spec.category, district, day) in taken:
                continue
            started = self.incident_start(spec, day)
            if started is None:
                continue
            burst = int(rng.uniform(*spec.burst_minutes) * 60)
            tail = int(rng.uniform(*spec.tail_minutes) * 60)
            if started + burst + tail >= range_end:
                continue
            streets_all = self.profile.districts[district].streets
            count = min(len(streets_all), rng.randint(*spec.streets))
            taken.add((spec.category, district, day))
            return _PlannedIncident(
                kind=name,
                spec=spec,
                district=district,
                streets=tuple(sorted(rng.sample(streets_all, count))),
                fraction=self.fraction.pick(rng) if spec.waste_fraction else None,
                started=started,
                burst_end=started + burst,
                broadcast=started + burst if rng.random() < spec.broadcast_share else None,
                ended=started + burst + tail,
            )
        return None

    def incident_traffic(self, incident: _PlannedIncident, open_hours: dict[dt.date, tuple[int, int]]) -> None:
        """Fill the incident with its calls and reports. A caller who finds the centre closed uses web/app."""
        rng, spec, tz = self.rng, incident.spec, self.calendar.tz
        planned_calls = rng.randint(*spec.calls)
        contacts = planned_calls + rng.randint(*spec.online_reports)
        for index in range(contacts):
            moment = incident.started + self.incident_offset(incident)
            after_broadcast = incident.broadcast is not None and moment >= incident.broadcast
            if index < planned_calls:
                duration = self.handle_time(CallTopic.REPORT)
                hours = open_hours.get(dt.datetime.fromtimestamp(moment, tz).date())
                if hours is not None and hours[0] <= moment and moment + duration < hours[1]:
                    self.incident_call(incident, moment, duration, after_broadcast)
                    continue
            incident.reports.append(self.incident_report(incident, moment, self.incident_channel.pick(rng)))

    def incident_offset(self, incident: _PlannedIncident) -> int:
        rng = self.rng
        burst = incident.burst_end - incident.started
        tail = incident.ended - incident.burst_end
        # Without a broadcast nobody tells the citizens: the burst is the same, but more contacts keep
        # trickling in for longer (a heavier, slower tail) until the problem is fixed.
        tail_share, decay = incident.spec.tail_share, 3.0
        if incident.broadcast is None:
            tail_share, decay = min(0.5, 2.5 * tail_share), 1.5
        if rng.random() < tail_share:
            offset = rng.expovariate(decay / tail)
            while offset >= tail - 1:
                offset = rng.expovariate(decay / tail)
            return burst + int(offset)
        # The burst: the word spreads fast, then everyone who notices calls or reports.
        return int(rng.triangular(0, burst - 1, burst * 0.3))

    def incident_call(self, incident: _PlannedIncident, started: int, duration: int, after_broadcast: bool) -> None:
        rng, spec = self.rng, incident.spec
        # Once the broadcast is out, agents mostly confirm the problem is known rather than file a new report.
        files = rng.random() < (spec.report_filed_share * (0.4 if after_broadcast else 1.0))
        call = _Call(
            started=started,
            duration=duration,
            topic=CallTopic.REPORT,
            subject=spec.category,
            outcome=CallOutcome.REPORT_FILED if files else CallOutcome.ANSWERED_AT_ONCE,
            district=incident.district,
            agent=rng.randint(1, self.profile.agents),
        )
        if files:
            call.report = self.incident_report(incident, self.filed_during(call), ReportChannel.PHONE)
            call.report.call = call
            incident.reports.append(call.report)
        incident.calls.append(call)

    def incident_report(self, incident: _PlannedIncident, filed: int, channel: ReportChannel) -> _Report:
        spec = incident.spec
        # Half the reporters describe it in the incident's own words, the others like any such report.
        templates = spec.templates if self.rng.random() < 0.5 else None
        return self.report(
            filed=filed,
            channel=channel,
            category=spec.category,
            district=incident.district,
            streets=incident.streets,
            fraction=incident.fraction,
            templates=templates,
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
    gen = _Generator(profile, calendar, random.Random(f"{seed}/incidents"))

    slots = _opening_slots(profile, calendar, _days(start, days))
    if calls_total and not slots:
        raise ValueError(f"the ContactCenter is closed all of {start} + {days} days: no room for {calls_total} calls")
    open_hours = {
        day: (
            _ts(dt.datetime.combine(day, calendar.opening_hours[day.weekday()][0], tzinfo=tz)),
            _ts(dt.datetime.combine(day, calendar.opening_hours[day.weekday()][1], tzinfo=tz)),
        )
        for day in _days(start, days)
        if calendar.is_open_day(day)
    }

    planned: list[_PlannedIncident] = []
    taken: set[tuple[str, str, dt.date]] = set()
    for kind in gen.kinds_for(incidents):
        incident = gen.plan_incident(kind, start, days, taken)
        if incident is not None:
            gen.incident_traffic(incident, open_hours)
            planned.append(incident)
    _fit_incident_calls(planned, calls_total)

    calls: list[_Call] = [call for incident in planned for call in incident.calls]
    reports: list[_Report] = [report for incident in planned for report in incident.reports]

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
        online_slots = _online_slots(profile, calendar, start, days)
        cum = list(accumulate(slot.weight for slot in online_slots))
        reports.extend(gen.online_report(slot) for slot in gen.rng.choices(online_slots, cum_weights=cum, k=online))

    tag = _run_tag(seed, start, days, calls_total, incidents, profile.version)
    return _assemble(calls, reports, planned, tag=tag, start=start, days=days, seed=seed, tz=calendar.tz)


def _fit_incident_calls(planned: list[_PlannedIncident], calls_total: int) -> None:
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
    calls: list[_Call],
    reports: list[_Report],
    planned: list[_PlannedIncident],
    *,
    tag: str,
    start: dt.date,
    days: int,
    seed: int,
    tz: dt.tzinfo,
) -> Scenario:
    """Order everything by event time, number the ids in that order, and build the contract messages."""
    # A call is logged when it ends; its report was filed during it, so the report comes first.
    timeline: list[tuple[int, int, int, _Call | _Report]] = [(c.ended, 1, n, c) for n, c in enumerate(calls)]
    timeline += [(r.filed, 0, n, r) for n, r in enumerate(reports)]
    timeline.sort(key=lambda item: item[:3])

    year = start.year
    call_no = report_no = 0
    for _, _, _, record in timeline:
        if isinstance(record, _Call):
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
        if isinstance(record, _Call):
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

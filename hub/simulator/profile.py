"""The traffic profile (`simulation.yaml` and `districts.yaml`), validated when loaded."""

from __future__ import annotations

import string
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from consumers.domain.calendar import CityCalendar
from contracts import (
    CallOutcome,
    CallTopic,
    ReportChannel,
)
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

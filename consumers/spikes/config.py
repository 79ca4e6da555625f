"""Spike-detection settings: `hub/config/spikes.yaml` loaded into frozen, validated dataclasses.

Every category entry inherits the fields it does not set from the `default` entry, and any category
code that has no entry of its own (a new code, or an unknown one that went to triage) uses `default`.
Unknown fields are refused, so a typo in the YAML fails at start-up instead of silently using a
default.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import yaml

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "hub" / "config" / "spikes.yaml"

# Placeholders a draft template may use; `drafts.render_drafts` fills every one of them.
TEMPLATE_FIELDS = frozenset(
    {
        "district",
        "street",
        "streets_nl",
        "streets_en",
        "fraction_nl",
        "fraction_en",
        "assignee_nl",
        "assignee_en",
        "informed_nl",
        "informed_en",
        "category_nl",
        "category_en",
        "streets_fr",
        "fraction_fr",
        "assignee_fr",
        "informed_fr",
        "category_fr",
    }
)


class SpikeConfigError(ValueError):
    """The spikes configuration is invalid."""


@dataclass(frozen=True, slots=True)
class Names:
    """A name in Dutch and English (and French, optional), as the broadcast drafts use it."""

    nl: str
    en: str
    # Without a French name the French draft uses the Dutch one (a city's own names read the same).
    fr: str | None = None

    @property
    def french(self) -> str:
        return self.fr or self.nl


@dataclass(frozen=True, slots=True)
class DraftTemplates:
    """Broadcast drafts of one category: a district-wide text and a text for named streets."""

    district_nl: str
    district_en: str
    street_nl: str
    street_en: str
    # French drafts are optional: a category without them has no French draft.
    district_fr: str | None = None
    street_fr: str | None = None


@dataclass(frozen=True, slots=True)
class CategorySettings:
    """Detection and alerting settings of one category."""

    code: str
    label: Names
    # False: counts are still kept (statistics, baseline), but the category never alerts.
    spike_prone: bool
    # Counts are kept per bucket; a bucket must divide an hour so it lies in one hour-of-day cell.
    bucket_minutes: int
    # The sliding window the count is judged over (a whole number of buckets).
    window_minutes: int
    # A second, longer window for slow rises (e.g. a street noticed dark one report at a time); None: off.
    slow_window_minutes: int | None
    # A shorter window for a sudden burst on a key whose baseline is high (a district's collection day); None: off.
    fast_window_minutes: int | None
    # The floor: no alarm below this many calls + reports in the window, however unlikely the count. Above
    # it the evidence (the Poisson tail) decides; it stands against a benign cluster of neighbours about one
    # thing (2-4 reports of one lamp, one tree), which a Poisson baseline of independent contacts does not know.
    min_count: int
    # The floor of the slow window (None: `min_count`). Hours of a district's own traffic gather in it beside a
    # benign cluster of neighbours, so one cluster plus one ordinary contact reaches `min_count` there far more
    # often than in the main window.
    slow_min_count: int | None
    # Below the floor, a district window with at least this many contacts whose reports name two or more
    # streets is two separate things, each of which could be a benign cluster: it spikes when two things
    # are beyond chance (P[X >= 2 | expected] below the significance). None: off.
    spread_min_count: int | None
    # Poisson upper-tail probability below which a count is a spike (split over the windows tested).
    significance: float
    street_level: bool
    street_min_count: int
    street_significance: float
    # A district alert names one street when that street holds at least this share of the reports.
    street_min_share: float
    # Resolve this long after the incident's last call or report, once its window is low again.
    quiet_minutes: int
    # Updates of a live alert: at most one per interval, and only when the total grew by this factor.
    update_interval_minutes: int
    update_growth: float
    templates: DraftTemplates

    @property
    def windows(self) -> tuple[int, ...]:
        """The windows tested, shortest first."""
        extra = (self.fast_window_minutes, self.slow_window_minutes)
        return tuple(sorted({self.window_minutes, *(w for w in extra if w is not None)}))

    @property
    def span_minutes(self) -> int:
        """How far back the detector needs buckets: the longest window."""
        return max(self.windows)


@dataclass(frozen=True, slots=True)
class BaselineSettings:
    """How the seasonal baseline is learned (see `baseline.fit_baseline`)."""

    history_weeks: int
    half_life_weeks: float
    # Buckets this recent are left out of a fit, so an incident that is starting does not raise its own baseline.
    guard_minutes: int
    # Pseudo-hours pulling each cell of the all-category weekday x hour shape toward flat.
    shape_prior_hours: float
    # Pseudo-counts pulling a category's hour-of-day and weekday factors toward the all-category shape.
    category_prior_count: float
    # Pseudo-counts pulling a district's share of a category toward its share of all traffic.
    district_prior_count: float
    # Pseudo-counts pulling a key's own weekday profile (e.g. its collection day) toward the pooled one.
    weekday_prior_count: float
    # Pseudo-counts pulling a street's share of its district toward `street_prior_share`.
    street_prior_count: float
    street_prior_share: float
    # Expected rate never below this (per key and hour): a key never seen is not "impossible".
    rate_floor_per_hour: float


@dataclass(frozen=True, slots=True)
class PriorSettings:
    """The conservative prior a fresh install judges by until its own history carries the weekly rhythm.

    Expected contacts per hour of a key = `contacts_per_year[category]` x the district's share of
    `district_weights` x the hour's share of `hour_weights` / 8,760 hours x `safety_factor`. It is
    blended with the learned baseline as a Gamma prior worth `weight_days` days of history: the learned
    rate weighs `h / (h + weight_days)` after `h` days of counts (see `baseline.Blend`).
    """

    weight_days: float
    safety_factor: float
    # Contacts (calls about the category and reports, a citizen once) per year, city-wide.
    contacts_per_year: Mapping[str, float]
    # Relative size of each district (its share of the city's contacts); an unknown district gets the mean.
    district_weights: Mapping[str, float]
    # 24 relative weights of the local hour of day (contact-center hours and evening web reports).
    hour_weights: tuple[float, ...]
    # Contacts per year of a category absent from `contacts_per_year`.
    default_contacts_per_year: float
    # A street's share of its district's prior rate (conservative: streets are few per district in the counts).
    street_share: float

    def rate_per_hour(self, category: str, district: str, local_hour: int) -> float:
        per_year = self.contacts_per_year.get(category, self.default_contacts_per_year)
        weights = self.district_weights
        total = sum(weights.values())
        mean = total / len(weights) if weights else 1.0
        share = weights.get(district, mean) / (total if weights else 1.0)
        hour_share = self.hour_weights[local_hour] / (sum(self.hour_weights) / 24.0)
        return per_year / 8760.0 * share * hour_share * self.safety_factor


@dataclass(frozen=True, slots=True)
class SpikeConfig:
    """The whole spikes configuration."""

    version: str
    timezone: str
    baseline: BaselineSettings
    prior: PriorSettings
    default: CategorySettings
    categories: Mapping[str, CategorySettings]
    fractions: Mapping[str, Names]
    fraction_fallback: Names
    assignees: Mapping[str, Names]
    assignee_fallback: Names

    def for_category(self, code: str) -> CategorySettings:
        """Settings of a category; codes without an entry of their own get `default`."""
        return self.categories.get(code, self.default)

    def is_report_category(self, code: str) -> bool:
        """True for a code named in the configuration (used to tell report subjects of calls from services)."""
        return code in self.categories

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "<dict>") -> SpikeConfig:
        return _parse(raw, source)

    @classmethod
    def load(cls, path: Path = DEFAULT_PATH) -> SpikeConfig:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(raw, Mapping):
            raise SpikeConfigError(f"{path}: expected a mapping at the top level")
        return _parse(raw, str(path))


def load_spike_config(path: Path = DEFAULT_PATH, *, timezone: str | None = None) -> SpikeConfig:
    """Load and validate `spikes.yaml`, in `timezone` when given: the city calendar's, the one time zone.

    A file that names another time zone than the calendar's is refused; one that names none takes the calendar's.
    """
    if timezone is None:
        return SpikeConfig.load(path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, Mapping):
        raise SpikeConfigError(f"{path}: expected a mapping at the top level")
    named = raw.get("timezone")
    if named is not None and named != timezone:
        raise SpikeConfigError(
            f"{path}: timezone {named!r} is not the city calendar's {timezone!r}: the calendar (calendar.yaml) is "
            "the one time zone, leave it out here"
        )
    return _parse({**raw, "timezone": timezone}, str(path))


# --------------------------------------------------------------------------------------------------
# Parsing and validation


_CATEGORY_FIELDS = frozenset(f.name for f in fields(CategorySettings)) - {"code"}
_BASELINE_FIELDS = frozenset(f.name for f in fields(BaselineSettings))
_TOP_FIELDS = frozenset(
    {
        "version",
        "timezone",
        "baseline",
        "prior",
        "categories",
        "fractions",
        "fraction_fallback",
        "assignees",
        "assignee_fallback",
    }
)


def _parse(raw: Mapping[str, Any], source: str) -> SpikeConfig:
    _no_unknown(raw, _TOP_FIELDS, source)
    timezone = str(raw.get("timezone", "Europe/Brussels"))
    try:
        ZoneInfo(timezone)
    except Exception as exc:  # ZoneInfo raises several types for a bad key
        raise SpikeConfigError(f"{source}: unknown timezone {timezone!r}") from exc

    categories_raw = raw.get("categories")
    if not isinstance(categories_raw, Mapping) or "default" not in categories_raw:
        raise SpikeConfigError(f"{source}: `categories` must be a mapping with a `default` entry")
    default_raw = categories_raw["default"]
    if not isinstance(default_raw, Mapping):
        raise SpikeConfigError(f"{source}: categories.default must be a mapping")
    missing = _CATEGORY_FIELDS - set(default_raw)
    if missing:
        raise SpikeConfigError(f"{source}: categories.default lacks {sorted(missing)}")
    default = _category("default", default_raw, {}, source)
    categories: dict[str, CategorySettings] = {}
    for code, entry in categories_raw.items():
        if code == "default":
            continue
        if not isinstance(entry, Mapping):
            raise SpikeConfigError(f"{source}: categories.{code} must be a mapping")
        categories[str(code)] = _category(str(code), entry, default_raw, source)

    return SpikeConfig(
        version=str(raw.get("version", "unversioned")),
        timezone=timezone,
        baseline=_baseline(raw.get("baseline") or {}, source),
        prior=_prior(raw.get("prior") or {}, source),
        default=default,
        categories=MappingProxyType(categories),
        fractions=MappingProxyType(_names_map(raw.get("fractions") or {}, f"{source}: fractions")),
        fraction_fallback=_names(
            raw.get("fraction_fallback") or {"nl": "afval", "en": "waste"}, f"{source}: fraction_fallback"
        ),
        assignees=MappingProxyType(_names_map(raw.get("assignees") or {}, f"{source}: assignees")),
        assignee_fallback=_names(
            raw.get("assignee_fallback") or {"nl": "De bevoegde dienst", "en": "The responsible service"},
            f"{source}: assignee_fallback",
        ),
    )


def _category(code: str, entry: Mapping[str, Any], default: Mapping[str, Any], source: str) -> CategorySettings:
    where = f"{source}: categories.{code}"
    _no_unknown(entry, _CATEGORY_FIELDS, where)
    merged: dict[str, Any] = {**default, **entry}
    templates_raw = {**(default.get("templates") or {}), **(entry.get("templates") or {})}
    settings = CategorySettings(
        code=code,
        label=_names(merged["label"], f"{where}.label"),
        spike_prone=_bool(merged["spike_prone"], f"{where}.spike_prone"),
        bucket_minutes=_int(merged["bucket_minutes"], f"{where}.bucket_minutes", minimum=1),
        window_minutes=_int(merged["window_minutes"], f"{where}.window_minutes", minimum=1),
        slow_window_minutes=None
        if merged.get("slow_window_minutes") is None
        else _int(merged["slow_window_minutes"], f"{where}.slow_window_minutes", minimum=1),
        fast_window_minutes=None
        if merged.get("fast_window_minutes") is None
        else _int(merged["fast_window_minutes"], f"{where}.fast_window_minutes", minimum=1),
        min_count=_int(merged["min_count"], f"{where}.min_count", minimum=1),
        slow_min_count=None
        if merged.get("slow_min_count") is None
        else _int(merged["slow_min_count"], f"{where}.slow_min_count", minimum=1),
        spread_min_count=None
        if merged.get("spread_min_count") is None
        else _int(merged["spread_min_count"], f"{where}.spread_min_count", minimum=2),
        significance=_probability(merged["significance"], f"{where}.significance"),
        street_level=_bool(merged["street_level"], f"{where}.street_level"),
        street_min_count=_int(merged["street_min_count"], f"{where}.street_min_count", minimum=1),
        street_significance=_probability(merged["street_significance"], f"{where}.street_significance"),
        street_min_share=_share(merged["street_min_share"], f"{where}.street_min_share"),
        quiet_minutes=_int(merged["quiet_minutes"], f"{where}.quiet_minutes", minimum=1),
        update_interval_minutes=_int(merged["update_interval_minutes"], f"{where}.update_interval_minutes", minimum=1),
        update_growth=_float(merged["update_growth"], f"{where}.update_growth"),
        templates=_templates(templates_raw, f"{where}.templates"),
    )
    b = settings.bucket_minutes
    if 60 % b:
        raise SpikeConfigError(f"{where}: bucket_minutes must divide 60 (a bucket lies in one hour-of-day cell)")
    for window in settings.windows:
        if window % b or window < b:
            raise SpikeConfigError(f"{where}: windows must be whole multiples of bucket_minutes ({window} / {b})")
    if settings.slow_window_minutes is not None and settings.slow_window_minutes <= settings.window_minutes:
        raise SpikeConfigError(f"{where}: slow_window_minutes must be longer than window_minutes")
    if settings.slow_min_count is not None and settings.slow_min_count < settings.min_count:
        raise SpikeConfigError(f"{where}: slow_min_count must be at least min_count")
    if settings.fast_window_minutes is not None and settings.fast_window_minutes >= settings.window_minutes:
        raise SpikeConfigError(f"{where}: fast_window_minutes must be shorter than window_minutes")
    if settings.quiet_minutes < settings.span_minutes:
        # Shorter would let the buckets of a resolved incident still sit in the window and re-fire it at once.
        raise SpikeConfigError(f"{where}: quiet_minutes must be at least the longest window")
    if settings.update_growth <= 1.0:
        raise SpikeConfigError(f"{where}: update_growth must be > 1 (a factor by which the count grew)")
    return settings


def _baseline(raw: Any, source: str) -> BaselineSettings:
    where = f"{source}: baseline"
    if not isinstance(raw, Mapping):
        raise SpikeConfigError(f"{where} must be a mapping")
    _no_unknown(raw, _BASELINE_FIELDS, where)
    defaults: dict[str, Any] = {
        "history_weeks": 26,
        "half_life_weeks": 8.0,
        "guard_minutes": 180,
        "shape_prior_hours": 4.0,
        "category_prior_count": 10.0,
        "district_prior_count": 10.0,
        "weekday_prior_count": 5.0,
        "street_prior_count": 10.0,
        "street_prior_share": 0.1,
        "rate_floor_per_hour": 0.01,
    }
    merged = {**defaults, **raw}
    return BaselineSettings(
        history_weeks=_int(merged["history_weeks"], f"{where}.history_weeks", minimum=1),
        half_life_weeks=_float(merged["half_life_weeks"], f"{where}.half_life_weeks"),
        guard_minutes=_int(merged["guard_minutes"], f"{where}.guard_minutes", minimum=0),
        shape_prior_hours=_float(merged["shape_prior_hours"], f"{where}.shape_prior_hours"),
        category_prior_count=_float(merged["category_prior_count"], f"{where}.category_prior_count"),
        district_prior_count=_float(merged["district_prior_count"], f"{where}.district_prior_count"),
        weekday_prior_count=_float(merged["weekday_prior_count"], f"{where}.weekday_prior_count"),
        street_prior_count=_float(merged["street_prior_count"], f"{where}.street_prior_count"),
        street_prior_share=_share(merged["street_prior_share"], f"{where}.street_prior_share"),
        rate_floor_per_hour=_float(merged["rate_floor_per_hour"], f"{where}.rate_floor_per_hour"),
    )


_PRIOR_FIELDS = frozenset(
    {
        "weight_days",
        "safety_factor",
        "contacts_per_year",
        "district_weights",
        "hour_weights",
        "default_contacts_per_year",
        "street_share",
    }
)


def _prior(raw: Any, source: str) -> PriorSettings:
    where = f"{source}: prior"
    if not isinstance(raw, Mapping):
        raise SpikeConfigError(f"{where} must be a mapping")
    _no_unknown(raw, _PRIOR_FIELDS, where)
    per_year = raw.get("contacts_per_year") or {}
    districts = raw.get("district_weights") or {}
    if not isinstance(per_year, Mapping) or not isinstance(districts, Mapping):
        raise SpikeConfigError(f"{where}: contacts_per_year and district_weights must be mappings")
    hours = raw.get("hour_weights", [1.0] * 24)
    if not isinstance(hours, list) or len(hours) != 24:
        raise SpikeConfigError(f"{where}.hour_weights: expected 24 numbers (local hours 0-23)")
    return PriorSettings(
        weight_days=_float(raw.get("weight_days", 14), f"{where}.weight_days"),
        safety_factor=_float(raw.get("safety_factor", 2.0), f"{where}.safety_factor"),
        contacts_per_year=MappingProxyType(
            {str(c): _float(v, f"{where}.contacts_per_year.{c}") for c, v in per_year.items()}
        ),
        district_weights=MappingProxyType(
            {str(d): _float(v, f"{where}.district_weights.{d}") for d, v in districts.items()}
        ),
        hour_weights=tuple(_float(h, f"{where}.hour_weights") for h in hours),
        default_contacts_per_year=_float(
            raw.get("default_contacts_per_year", 500), f"{where}.default_contacts_per_year"
        ),
        street_share=_share(raw.get("street_share", 0.5), f"{where}.street_share"),
    )


def _templates(raw: Mapping[str, Any], where: str) -> DraftTemplates:
    names = ("district_nl", "district_en", "street_nl", "street_en")
    optional = ("district_fr", "street_fr")
    _no_unknown(raw, frozenset(names + optional), where)
    if (raw.get("district_fr") is None) != (raw.get("street_fr") is None):
        raise SpikeConfigError(f"{where}: give both French templates (district_fr and street_fr) or neither")
    values: dict[str, str] = {}
    for name in names + optional:
        text = raw.get(name)
        if text is None and name in optional:
            continue
        if not isinstance(text, str) or not text.strip():
            raise SpikeConfigError(f"{where}.{name}: a non-empty template is required")
        _check_template(text, f"{where}.{name}")
        values[name] = text.strip()
    return DraftTemplates(**values)


def _check_template(text: str, where: str) -> None:
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise SpikeConfigError(f"{where}: {exc}") from exc
    for _literal, field_name, spec, conversion in parsed:
        if field_name is None:
            continue
        if field_name not in TEMPLATE_FIELDS:
            raise SpikeConfigError(f"{where}: unknown placeholder {{{field_name}}}; allowed: {sorted(TEMPLATE_FIELDS)}")
        if spec or conversion:
            raise SpikeConfigError(f"{where}: placeholders take no format spec or conversion")


def _names_map(raw: Any, where: str) -> dict[str, Names]:
    if not isinstance(raw, Mapping):
        raise SpikeConfigError(f"{where} must be a mapping")
    return {str(code): _names(value, f"{where}.{code}") for code, value in raw.items()}


def _names(raw: Any, where: str) -> Names:
    if not isinstance(raw, Mapping) or set(raw) not in ({"nl", "en"}, {"nl", "en", "fr"}):
        raise SpikeConfigError(f"{where}: expected `nl` and `en` (and optionally `fr`)")
    values = [raw[lang] for lang in ("nl", "en", "fr") if lang in raw]
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise SpikeConfigError(f"{where}: names must be non-empty strings")
    fr = raw.get("fr")
    return Names(nl=raw["nl"].strip(), en=raw["en"].strip(), fr=fr.strip() if isinstance(fr, str) else None)


def _no_unknown(raw: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = set(map(str, raw)) - allowed
    if unknown:
        raise SpikeConfigError(f"{where}: unknown field(s) {sorted(unknown)}")


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise SpikeConfigError(f"{where}: expected true or false")
    return value


def _int(value: Any, where: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpikeConfigError(f"{where}: expected an integer >= {minimum}")
    return value


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise SpikeConfigError(f"{where}: expected a positive number")
    return float(value)


def _probability(value: Any, where: str) -> float:
    number = _float(value, where)
    if not 0 < number < 1:
        raise SpikeConfigError(f"{where}: expected a probability strictly between 0 and 1")
    return number


def _share(value: Any, where: str) -> float:
    number = _float(value, where)
    if not 0 < number <= 1:
        raise SpikeConfigError(f"{where}: expected a share in (0, 1]")
    return number

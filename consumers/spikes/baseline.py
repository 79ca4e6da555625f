"""The seasonal baseline: how many calls and reports a key should see in a bucket, learned from history.

Counts per key are sparse (a few a day per category and district, most hour-of-week cells empty in any
given week), so a per-key, per-cell mean would be mostly zeros and noise. The model is multiplicative
and every factor is shrunk toward a broader one (empirical Bayes with gamma-Poisson pseudo-counts):

    rate(category, district, street, cell) per hour =
        category_rate[cell]                 city-wide weekday x hour-of-day rate of the category: the
                                            all-category shape (calls follow opening hours, web reports
                                            the evening, for every category alike) times the category's
                                            own hour-of-day and weekday factors, each shrunk toward 1
      x district_share[category][district]  the district's share of the category, shrunk toward its
                                            share of all traffic (big districts report more of everything)
      x weekday_factor[category][district][weekday]
                                            the key's own weekday profile, shrunk toward 1: a district's
                                            waste collection day is its busy day for missed collections
      x street_share[...]                   for street keys: the street's share of its district's count,
                                            shrunk toward `street_prior_share`

with a floor per key (`rate_floor_per_hour`): a key never seen is rare, not impossible. A cell is
(weekday, hour) in the city's time zone; public holidays (through `closed_day`) count as Sundays, since
the ContactCenter is closed and citizens behave as on a Sunday.

History is weighted by exponential decay (`half_life_weeks`), so the baseline follows slow trends, and
the exposure (how many hours of each cell the history holds) is weighted alike, which also copes with
DST days and with a history shorter than a week. A fit leaves out the most recent `guard_minutes`
(`fit_window`) so a starting incident does not raise its own baseline, and can leave out past
incidents (`exclude`) so one bad Tuesday does not make every Tuesday look busy.

The fitted `BaselineModel` is plain data: `to_dict` / `from_dict` let the consumer persist it, and a
refit from the same history gives the same model whatever order the history arrives in (inputs are
sorted before summing, so even the floating-point sums agree between replicas). The intended use:
refit when the event-time day (or week) changes, with `fit_window(at, settings, counting_since=...)`
over the non-empty buckets of the counts table and the incidents resolved so far as `exclude`; every
replica and every replay then works with the same baseline at the same event time.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from consumers.spikes.config import BaselineSettings, PriorSettings
from consumers.spikes.detector import IncidentKey

HOURS_PER_WEEK = 7 * 24
_HOUR = dt.timedelta(hours=1)
_SUNDAY = 6

ClosedDay = Callable[[dt.date], bool]


def cell_of(moment: dt.datetime, tz: ZoneInfo, closed_day: ClosedDay | None = None) -> int:
    """Hour-of-week cell (weekday * 24 + hour, Monday 0) of `moment` in the city's time zone."""
    local = moment.astimezone(tz)
    weekday = _SUNDAY if closed_day is not None and closed_day(local.date()) else local.weekday()
    return weekday * 24 + local.hour


def fit_window(
    at: dt.datetime, settings: BaselineSettings, *, counting_since: dt.datetime | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """[since, until) of the history a fit made at event time `at` reads: `history_weeks` back, minus the guard band.

    `counting_since` is when counting began (a fresh install, a new city): hours before it hold no
    counts, and taking them as quiet hours would halve a young baseline and double its false alarms.
    """
    until = at - dt.timedelta(minutes=settings.guard_minutes)
    since = until - dt.timedelta(weeks=settings.history_weeks)
    if counting_since is not None and counting_since > since:
        since = min(counting_since, until - dt.timedelta(minutes=1))
    return since, until


@dataclass(frozen=True, slots=True)
class Exclusion:
    """A past incident of (category, district) whose buckets, street keys included, a fit leaves out."""

    category: str
    district: str
    start: dt.datetime
    end: dt.datetime

    def covers(self, key: IncidentKey, moment: dt.datetime) -> bool:
        return key.category == self.category and key.district == self.district and self.start <= moment < self.end


@dataclass(slots=True)
class BaselineModel:
    """A fitted baseline: expected counts per key and bucket. Plain data apart from `closed_day`."""

    timezone: str
    fitted_since: dt.datetime
    fitted_until: dt.datetime
    floor_per_hour: float
    # category -> 168 city-wide rates per hour.
    category_rates: dict[str, list[float]]
    # category -> district -> share; `unseen_district_share` for districts absent from the history.
    district_share: dict[str, dict[str, float]]
    unseen_district_share: dict[str, float]
    # category -> district -> 7 factors (Monday first).
    weekday_factor: dict[str, dict[str, list[float]]]
    # category -> district -> street -> share; `unseen_street_share` per category -> district.
    street_share: dict[str, dict[str, dict[str, float]]]
    unseen_street_share: dict[str, dict[str, float]]
    street_prior_share: float
    # Not serialised: pass the same calendar again to `from_dict` (see `cell_of`).
    closed_day: ClosedDay | None = None
    _tz: ZoneInfo | None = field(default=None, init=False, repr=False, compare=False)
    _cells: dict[dt.datetime, int] = field(default_factory=dict, init=False, repr=False, compare=False)
    # (key, bucket start) -> rate: every step judges the live keys over nearly the same buckets again.
    _rates: dict[tuple[IncidentKey, dt.datetime], float] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def tz(self) -> ZoneInfo:
        if self._tz is None:
            self._tz = ZoneInfo(self.timezone)
        return self._tz

    def cell(self, moment: dt.datetime) -> int:
        # Buckets never straddle an hour, so the hour's cell is the bucket's; caching per UTC hour saves
        # a time-zone conversion per bucket on the hot path.
        hour = moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        found = self._cells.get(hour)
        if found is None:
            if len(self._cells) > 50_000:
                self._cells.clear()
            found = self._cells[hour] = cell_of(hour, self.tz, self.closed_day)
        return found

    def rate_per_hour(self, key: IncidentKey, moment: dt.datetime) -> float:
        """Expected events per hour for `key` around `moment`, at least the floor."""
        rates = self.category_rates.get(key.category)
        if rates is None:
            return self.floor_per_hour
        cell = self.cell(moment)
        shares = self.district_share.get(key.category, {})
        rate = rates[cell] * shares.get(key.district, self.unseen_district_share.get(key.category, 0.0))
        factors = self.weekday_factor.get(key.category, {}).get(key.district)
        if factors is not None:
            rate *= factors[cell // 24]
        if key.street is not None:
            streets = self.street_share.get(key.category, {}).get(key.district, {})
            unseen = self.unseen_street_share.get(key.category, {}).get(key.district, self.street_prior_share)
            rate *= streets.get(key.street, unseen)
        return max(self.floor_per_hour, rate)

    def expected_buckets(self, key: IncidentKey, starts: Iterable[dt.datetime], bucket_minutes: int) -> float:
        """Expected count of `key` over the buckets starting at `starts`."""
        per_bucket = bucket_minutes / 60.0
        return sum(_memo_rates(self._rates, self.rate_per_hour, key, starts)) * per_bucket

    def to_dict(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "fitted_since": self.fitted_since.isoformat(),
            "fitted_until": self.fitted_until.isoformat(),
            "floor_per_hour": self.floor_per_hour,
            "category_rates": {c: list(v) for c, v in self.category_rates.items()},
            "district_share": {c: dict(v) for c, v in self.district_share.items()},
            "unseen_district_share": dict(self.unseen_district_share),
            "weekday_factor": {c: {d: list(f) for d, f in v.items()} for c, v in self.weekday_factor.items()},
            "street_share": {c: {d: dict(s) for d, s in v.items()} for c, v in self.street_share.items()},
            "unseen_street_share": {c: dict(v) for c, v in self.unseen_street_share.items()},
            "street_prior_share": self.street_prior_share,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, closed_day: ClosedDay | None = None) -> BaselineModel:
        rates = {str(c): [float(x) for x in v] for c, v in raw["category_rates"].items()}
        if any(len(v) != HOURS_PER_WEEK for v in rates.values()):
            raise ValueError("category_rates must hold 168 hour-of-week rates per category")
        return cls(
            timezone=str(raw["timezone"]),
            fitted_since=dt.datetime.fromisoformat(raw["fitted_since"]),
            fitted_until=dt.datetime.fromisoformat(raw["fitted_until"]),
            floor_per_hour=float(raw["floor_per_hour"]),
            category_rates=rates,
            district_share={str(c): {str(d): float(x) for d, x in v.items()} for c, v in raw["district_share"].items()},
            unseen_district_share={str(c): float(x) for c, x in raw["unseen_district_share"].items()},
            weekday_factor={
                str(c): {str(d): [float(x) for x in f] for d, f in v.items()} for c, v in raw["weekday_factor"].items()
            },
            street_share={
                str(c): {str(d): {str(s): float(x) for s, x in m.items()} for d, m in v.items()}
                for c, v in raw["street_share"].items()
            },
            unseen_street_share={
                str(c): {str(d): float(x) for d, x in v.items()} for c, v in raw["unseen_street_share"].items()
            },
            street_prior_share=float(raw["street_prior_share"]),
            closed_day=closed_day,
        )


def empty_baseline(settings: BaselineSettings, timezone: str, at: dt.datetime) -> BaselineModel:
    """A baseline with no history: every key at the floor rate (a fresh install; `min_count` still guards)."""
    return BaselineModel(
        timezone=timezone,
        fitted_since=at,
        fitted_until=at,
        floor_per_hour=settings.rate_floor_per_hour,
        category_rates={},
        district_share={},
        unseen_district_share={},
        weekday_factor={},
        street_share={},
        unseen_street_share={},
        street_prior_share=settings.street_prior_share,
    )


_HOUR_OF = tuple(c % 24 for c in range(HOURS_PER_WEEK))
_WEEKDAY_OF = tuple(c // 24 for c in range(HOURS_PER_WEEK))


def _shrunk_ratio(
    seen_by_cell: list[float], rates: list[float], exposure: list[float], slots: tuple[int, ...], prior: float
) -> list[float]:
    """Per slot (an hour of the day, or a weekday): seen / predicted counts, with `prior` pseudo-counts on both.

    With few counts the ratio stays near 1 (trust the broader shape); with many it follows the data.
    """
    width = max(slots) + 1
    seen = [0.0] * width
    predicted = [0.0] * width
    for c in range(HOURS_PER_WEEK):
        seen[slots[c]] += seen_by_cell[c]
        predicted[slots[c]] += rates[c] * exposure[c]
    return [(seen[i] + prior) / (predicted[i] + prior) for i in range(width)]


@dataclass(frozen=True, slots=True)
class _Week:
    """Where a moment falls: its decay weight (relative to the fit's end) and its hour-of-week cell."""

    weight: Callable[[dt.datetime], float]
    cell: Callable[[dt.datetime], int]


def _week(until: dt.datetime, half_life_weeks: float, tz: ZoneInfo, closed_day: ClosedDay | None) -> _Week:
    # Closures, not methods: they run once per history record, and a closure's free variables are the fastest lookup.
    half_life_s = half_life_weeks * 7 * 86_400.0

    def weight(moment: dt.datetime) -> float:
        return float(0.5 ** ((until - moment).total_seconds() / half_life_s))

    hour_cells: dict[dt.datetime, int] = {}

    def cell(moment: dt.datetime) -> int:
        hour = moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        found = hour_cells.get(hour)
        if found is None:
            found = hour_cells[hour] = cell_of(hour, tz, closed_day)
        return found

    return _Week(weight, cell)


def _exposure(since: dt.datetime, until: dt.datetime, week: _Week) -> list[float]:
    """Decay-weighted hours of each cell in [since, until), partial hours at the edges included."""
    exposure = [0.0] * HOURS_PER_WEEK
    weight, cell = week.weight, week.cell
    hour = since.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    while hour < until:
        lo, hi = max(hour, since), min(hour + _HOUR, until)
        if hi > lo:
            exposure[cell(hour)] += weight(lo + (hi - lo) / 2) * ((hi - lo) / _HOUR)
        hour += _HOUR
    return exposure


@dataclass
class _Tally:
    """Decay-weighted counts of a history: per category and cell, district, key and weekday, street; and overall."""

    by_cat_cell: dict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0.0] * HOURS_PER_WEEK))
    by_cat_district: dict[str, dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    by_key_weekday: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(lambda: [0.0] * 7))
    by_street: dict[str, dict[str, dict[str, float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
    )
    all_cell: list[float] = field(default_factory=lambda: [0.0] * HOURS_PER_WEEK)
    all_district: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def _tally(
    history: Iterable[tuple[IncidentKey, dt.datetime, int]],
    since: dt.datetime,
    until: dt.datetime,
    exclude: Iterable[Exclusion],
    week: _Week,
) -> _Tally:
    """The weighted counts of the records in [since, until) that no exclusion covers."""
    exclusions: dict[tuple[str, str], list[Exclusion]] = defaultdict(list)
    for x in exclude:
        exclusions[(x.category, x.district)].append(x)
    # Sorting first makes the floating-point sums independent of the input order.
    records = sorted(
        (key, start.astimezone(dt.UTC), count)
        for key, start, count in history
        if count > 0
        and since <= start < until
        and not any(x.covers(key, start) for x in exclusions.get((key.category, key.district), ()))
    )
    tally = _Tally()
    weight, cell = week.weight, week.cell
    by_street, by_cat_cell, by_cat_district = tally.by_street, tally.by_cat_cell, tally.by_cat_district
    by_key_weekday, all_cell, all_district = tally.by_key_weekday, tally.all_cell, tally.all_district
    for key, start, count in records:
        w = weight(start) * count
        if key.street is not None:
            by_street[key.category][key.district][key.street] += w
            continue
        c = cell(start)
        by_cat_cell[key.category][c] += w
        by_cat_district[key.category][key.district] += w
        by_key_weekday[(key.category, key.district)][c // 24] += w
        all_cell[c] += w
        all_district[key.district] += w
    return tally


def _fit_categories(model: BaselineModel, tally: _Tally, exposure: list[float], settings: BaselineSettings) -> None:
    """Each category's rates per cell, its districts' shares and each key's weekday factors."""
    total_exposure = sum(exposure)
    total_all = sum(tally.all_cell)
    beta = settings.shape_prior_hours
    mean_all = total_all / total_exposure
    # All-category shape, itself shrunk toward flat so a cell absent from a short history is not zero.
    shape = [((tally.all_cell[c] + beta * mean_all) / (exposure[c] + beta)) / mean_all for c in range(HOURS_PER_WEEK)]

    n_districts = len(tally.all_district)
    district_prior = {d: (t + 1.0) / (total_all + n_districts + 1.0) for d, t in tally.all_district.items()}
    unseen_district_prior = 1.0 / (total_all + n_districts + 1.0)
    gamma = settings.district_prior_count
    kappa = settings.weekday_prior_count

    lam = settings.category_prior_count
    for category in sorted(tally.by_cat_cell):
        counts = tally.by_cat_cell[category]
        total_c = sum(counts)
        mean_c = total_c / total_exposure
        # The category's own 168 cells hold too few counts to estimate each (a cell of a busy category
        # sees a handful a week); start from the all-category shape and let the category adjust it by an
        # hour-of-day factor and a weekday factor, each estimated from 7 or 24 times more counts per value.
        rates = [mean_c * shape[c] for c in range(HOURS_PER_WEEK)]
        for slots in (_HOUR_OF, _WEEKDAY_OF):
            factor = _shrunk_ratio(counts, rates, exposure, slots, lam)
            rates = [rates[c] * factor[slots[c]] for c in range(HOURS_PER_WEEK)]
        model.category_rates[category] = rates
        shares = {
            d: (t + gamma * district_prior[d]) / (total_c + gamma)
            for d, t in sorted(tally.by_cat_district[category].items())
        }
        model.district_share[category] = shares
        model.unseen_district_share[category] = gamma * unseen_district_prior / (total_c + gamma)
        factors: dict[str, list[float]] = {}
        for district, share in shares.items():
            # What the pooled model predicts for this key per weekday, against what the key saw.
            predicted = [0.0] * 7
            for c in range(HOURS_PER_WEEK):
                predicted[c // 24] += rates[c] * share * exposure[c]
            seen = tally.by_key_weekday[(category, district)]
            factors[district] = [(seen[w] + kappa) / (predicted[w] + kappa) for w in range(7)]
        model.weekday_factor[category] = factors


def _fit_streets(model: BaselineModel, tally: _Tally, settings: BaselineSettings) -> None:
    """Each street's share of its district's count, shrunk toward `street_prior_share`."""
    gamma_s, p0 = settings.street_prior_count, settings.street_prior_share
    for category in sorted(tally.by_street):
        for district in sorted(tally.by_street[category]):
            district_total = tally.by_cat_district.get(category, {}).get(district, 0.0)
            streets = tally.by_street[category][district]
            model.street_share.setdefault(category, {})[district] = {
                s: min(1.0, (t + gamma_s * p0) / (district_total + gamma_s)) for s, t in sorted(streets.items())
            }
            model.unseen_street_share.setdefault(category, {})[district] = gamma_s * p0 / (district_total + gamma_s)


def fit_baseline(
    history: Iterable[tuple[IncidentKey, dt.datetime, int]],
    *,
    since: dt.datetime,
    until: dt.datetime,
    settings: BaselineSettings,
    timezone: str,
    closed_day: ClosedDay | None = None,
    exclude: Iterable[Exclusion] = (),
) -> BaselineModel:
    """Fit the baseline from (key, bucket start, observed count) records of non-empty buckets in [since, until)."""
    if until <= since:
        raise ValueError("empty history span: until must be after since")
    week = _week(until, settings.half_life_weeks, ZoneInfo(timezone), closed_day)
    exposure = _exposure(since, until, week)
    tally = _tally(history, since, until, exclude, week)
    model = empty_baseline(settings, timezone, since)
    model.fitted_until = until
    model.closed_day = closed_day
    if sum(exposure) <= 0.0 or sum(tally.all_cell) <= 0.0:
        return model
    _fit_categories(model, tally, exposure, settings)
    _fit_streets(model, tally, settings)
    return model


# --------------------------------------------------------------------------------------------------
# The conservative prior of a fresh install, and its blend with the learned baseline


@dataclass(frozen=True, slots=True)
class PriorBaseline:
    """Expected counts from configuration alone (`prior` in spikes.yaml): what a hub without history judges by."""

    settings: PriorSettings
    timezone: str
    _rates: dict[tuple[IncidentKey, dt.datetime], float] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def rate_per_hour(self, key: IncidentKey, moment: dt.datetime) -> float:
        hour = moment.astimezone(ZoneInfo(self.timezone)).hour
        rate = self.settings.rate_per_hour(key.category, key.district, hour)
        return rate * self.settings.street_share if key.street is not None else rate

    def expected_buckets(self, key: IncidentKey, starts: Iterable[dt.datetime], bucket_minutes: int) -> float:
        per_bucket = bucket_minutes / 60.0
        return sum(_memo_rates(self._rates, self.rate_per_hour, key, starts)) * per_bucket


_MEMO_LIMIT = 200_000


def _memo_rates(
    memo: dict[tuple[IncidentKey, dt.datetime], float],
    rate: Callable[[IncidentKey, dt.datetime], float],
    key: IncidentKey,
    starts: Iterable[dt.datetime],
) -> list[float]:
    """The rates of `key` at `starts`, each computed once per model (a pure function of both): the same values,
    summed in the same order, as computing them every time."""
    if len(memo) > _MEMO_LIMIT:
        memo.clear()
    out = []
    for start in starts:
        found = memo.get((key, start))
        if found is None:
            found = memo[(key, start)] = rate(key, start)
        out.append(found)
    return out


def learned_weight(history: dt.timedelta, prior: PriorSettings) -> float:
    """The learned baseline's weight after `history` of counts: h / (h + weight_days), a Gamma prior's posterior mean."""
    days = max(0.0, history.total_seconds() / 86_400.0)
    return days / (days + prior.weight_days)


@dataclass(frozen=True, slots=True)
class Blend:
    """What the detector judges by: the learned baseline and the prior, weighted by how much history there is.

    With `h` days of counts the expectation is `w * learned + (1 - w) * prior`, `w = h / (h + weight_days)`:
    the posterior mean of a Poisson rate under a Gamma prior worth `weight_days` days of exposure. A fresh
    install (w = 0) judges by the prior alone, from its first message; a backfilled year is (nearly) all
    learned.
    """

    learned: BaselineModel | None
    prior: PriorBaseline
    weight: float

    def expected_buckets(self, key: IncidentKey, starts: Iterable[dt.datetime], bucket_minutes: int) -> float:
        moments = list(starts)
        learned = 0.0 if self.learned is None else self.learned.expected_buckets(key, moments, bucket_minutes)
        if self.weight >= 1.0:
            return learned
        prior = self.prior.expected_buckets(key, moments, bucket_minutes)
        return self.weight * learned + (1.0 - self.weight) * prior

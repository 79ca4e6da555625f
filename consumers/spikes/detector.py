"""Counting calls and reports per incident key and time bucket, and judging a window against the baseline.

Incident keys
    A key is a category x an area: `waste.missed_collection|district:Brustem`, and for reports that name
    a street also `waste.missed_collection|district:Brustem|street:Kerkstraat`. The waste fraction is
    *not* part of the key: calls carry no fraction, and splitting by fraction would hide the first calls
    of an incident (the earliest signal) in a key of their own. On a given day a district's round
    collects one fraction, so the fraction of an incident is the one its reports name (see
    `drafts.dominant_fraction`), carried on the alert rather than in the counts.

Counting
    Each message adds increments to (key, bucket) counters; the consumer upserts them atomically, and
    `CountTable` is the in-memory reference of the same semantics. Buckets are aligned on UTC epoch
    multiples of `bucket_minutes`; with a bucket that divides an hour and a time zone with whole-hour
    offsets (Europe/Brussels) each bucket lies in one local hour-of-day cell. A call during which a
    report was filed (`related_report_id` set) is counted as a call but marked *linked*, because its
    report counts that citizen already: counting both would make every phoned-in report two events,
    which a Poisson test mistakes for a burst. The call is the side that gives way because the report is
    filed during the call (it arrives first) and carries the district and street, while the agent may
    not have noted a district on the call. Streets only get reports (calls carry no street).

Judging
    `SpikeDetector.evaluate` sums the window's buckets (the bucket of the evaluation moment and the ones
    before it) and compares the count with the baseline's expectation for exactly those buckets: a spike
    when the exact Poisson upper tail P[X >= observed | expected] is below the category's significance
    (split over the windows tested) *and* the count reaches the category's floor `min_count`. The evidence
    decides: against a baseline of a contact a month, 3 contacts in two hours are already far beyond
    chance; on a district's collection day 8 may not be. The floor only stands against what a Poisson
    baseline of independent contacts does not know: a benign cluster of neighbours about one thing (2-4
    reports of one lamp), so it is the largest such cluster plus one, per category.

    Windows: the main one, optionally a fast one (a sudden burst on a high baseline: a district's
    collection day) and a slow one (a slow rise, with a floor of its own, `slow_min_count`: hours of a district's
    contacts gather in it beside a benign cluster); the significance is split over them (Bonferroni). A
    Poisson CUSUM was considered and not built: with counts this sparse a CUSUM tuned for a tolerable
    false alarm rate behaves as a count threshold over a long memory, which the windows do more legibly.

Everything here runs on event time: the only clock is the `at` argument.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from consumers.domain.places import UNPLACED_DISTRICT
from consumers.spikes.config import CategorySettings, SpikeConfig
from contracts.calls import CallLogged, CallTopic
from contracts.reports import ReportFiled

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# --------------------------------------------------------------------------------------------------
# Keys and buckets


@dataclass(frozen=True, slots=True)
class IncidentKey:
    """Category x area that counts are kept for: a district, or a street within a district."""

    category: str
    district: str
    street: str | None = None

    def __lt__(self, other: IncidentKey) -> bool:
        # A district key sorts before its streets; a plain tuple order would compare None with a str.
        return self._order() < other._order()

    def _order(self) -> tuple[str, str, bool, str]:
        return (self.category, self.district, self.street is not None, self.street or "")

    @property
    def id(self) -> str:
        base = f"{self.category}|district:{self.district}"
        return base if self.street is None else f"{base}|street:{self.street}"

    @property
    def is_street(self) -> bool:
        return self.street is not None

    @classmethod
    def parse(cls, key_id: str) -> IncidentKey:
        """Inverse of `id` (district and street names must not contain `|`)."""
        category, sep, rest = key_id.partition("|district:")
        if not sep or not category:
            raise ValueError(f"not an incident key: {key_id!r}")
        district, sep, street = rest.partition("|street:")
        if not district or (sep and not street):
            raise ValueError(f"not an incident key: {key_id!r}")
        return cls(category, district, street if sep else None)

    def __str__(self) -> str:
        return self.id


def bucket_start(moment: dt.datetime, bucket_minutes: int) -> dt.datetime:
    """Start (UTC) of the bucket holding `moment`; naive moments are refused (event time carries its offset)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: every event time carries its offset")
    seconds = (moment - _EPOCH) // dt.timedelta(seconds=1)
    size = bucket_minutes * 60
    return _EPOCH + dt.timedelta(seconds=seconds - seconds % size)


def window_starts(at: dt.datetime, window_minutes: int, bucket_minutes: int) -> list[dt.datetime]:
    """Bucket starts of the window judged at `at`: the bucket holding `at` and the ones before it, oldest first."""
    return list(_window_starts(bucket_start(at, bucket_minutes), window_minutes, bucket_minutes))


@functools.lru_cache(maxsize=4096)
def _window_starts(last: dt.datetime, window_minutes: int, bucket_minutes: int) -> tuple[dt.datetime, ...]:
    # Every step judges each live key over the same few spans: the starts (and their empty buckets) are made once.
    n = window_minutes // bucket_minutes
    step = dt.timedelta(minutes=bucket_minutes)
    return tuple(last - step * (n - 1 - i) for i in range(n))


@functools.lru_cache(maxsize=16384)
def _empty(start: dt.datetime) -> BucketCount:
    return BucketCount(start)


@dataclass(frozen=True, slots=True)
class BucketCount:
    """Counters of one key in one bucket. `observed`, what is judged, counts each citizen's contact once."""

    start: dt.datetime
    calls: int = 0
    reports: int = 0
    # Calls whose report is counted (a report was filed during the call): in `calls`, not in `observed`.
    linked_calls: int = 0

    @property
    def observed(self) -> int:
        return self.calls + self.reports - self.linked_calls

    def __add__(self, other: BucketCount) -> BucketCount:
        return BucketCount(
            self.start,
            self.calls + other.calls,
            self.reports + other.reports,
            self.linked_calls + other.linked_calls,
        )


@dataclass(frozen=True, slots=True)
class Increment:
    """What one message adds to one (key, bucket) counter: the consumer's atomic upsert."""

    key: IncidentKey
    bucket: dt.datetime
    calls: int = 0
    reports: int = 0
    linked_calls: int = 0


def increments_for_call(
    call: CallLogged, config: SpikeConfig, category_of: Callable[[str], str | None] | None = None
) -> list[Increment]:
    """A call about a report category with a district counts toward that district's key; other calls count nowhere.

    `category_of` maps a call subject to a category code: the catalogue's `category_for_call_subject`,
    which knows the telephony system's own short subjects. Without it, a subject counts when it is a
    category code of `spikes.yaml`. Either way, a call on the `report` topic with a subject nobody knows
    still counts, under that subject: it is about a problem in public space. Services (civil_affairs,
    an appointment at the recycling park, ...) count nowhere.
    """
    if call.district is None:
        return []
    if category_of is not None:
        category = category_of(call.subject)
    else:
        category = call.subject if config.is_report_category(call.subject) else None
    if category is None and call.topic is CallTopic.REPORT:
        category = call.subject
    if category is None:
        return []
    settings = config.for_category(category)
    key = IncidentKey(category, call.district)
    linked = 1 if call.related_report_id else 0
    return [Increment(key, bucket_start(call.started_at, settings.bucket_minutes), calls=1, linked_calls=linked)]


def increments_for_report(report: ReportFiled, config: SpikeConfig) -> list[Increment]:
    """A report counts toward its district key and, for street-level categories, its street key."""
    settings = config.for_category(report.category)
    bucket = bucket_start(report.filed_at, settings.bucket_minutes)
    where = report.location.district or UNPLACED_DISTRICT
    district = IncidentKey(report.category, where)
    out = [Increment(district, bucket, reports=1)]
    if settings.street_level and report.location.street is not None:
        out.append(Increment(IncidentKey(report.category, where, report.location.street), bucket, reports=1))
    return out


class CountTable:
    """In-memory (key, bucket) counters: the reference semantics of the consumer's database table.

    Adding is commutative, so out-of-order and late messages land in the bucket their event time
    belongs to, and any arrival order gives the same table.
    """

    def __init__(self) -> None:
        self._counts: dict[IncidentKey, dict[dt.datetime, BucketCount]] = {}

    def add(self, increment: Increment) -> None:
        per_key = self._counts.setdefault(increment.key, {})
        delta = BucketCount(increment.bucket, increment.calls, increment.reports, increment.linked_calls)
        current = per_key.get(increment.bucket)
        per_key[increment.bucket] = delta if current is None else current + delta

    def add_all(self, increments: Iterable[Increment]) -> None:
        for increment in increments:
            self.add(increment)

    def buckets(self, key: IncidentKey) -> Mapping[dt.datetime, BucketCount]:
        return self._counts.get(key, {})

    def keys(self) -> list[IncidentKey]:
        return sorted(self._counts)

    def history(self, since: dt.datetime, until: dt.datetime) -> Iterator[tuple[IncidentKey, dt.datetime, int]]:
        """(key, bucket start, observed) of every non-empty bucket in [since, until): what `fit_baseline` reads."""
        for key in sorted(self._counts):
            for start, count in sorted(self._counts[key].items()):
                if since <= start < until and count.observed > 0:
                    yield key, start, count.observed


# --------------------------------------------------------------------------------------------------
# The Poisson upper tail, exact and in log space


def poisson_logsf(k: int, mu: float) -> float:
    """log P[X >= k] for X ~ Poisson(mu), exact to double precision, for any k >= 0 and mu >= 0.

    Upper tail (k > mu): sum the terms from k upward, which shrink geometrically, starting from the log
    of the k-th term (`lgamma` keeps it finite where `mu**k / k!` would overflow). Otherwise the tail is
    1 - P[X <= k-1], the lower sum taken from k-1 downward, where the terms shrink too. Either sum stops
    once a term no longer changes the total, after a few times sqrt(mu) terms at worst.
    """
    if k <= 0:
        return 0.0
    if mu <= 0.0:
        return -math.inf
    log_mu = math.log(mu)
    if k > mu:
        log_first = -mu + k * log_mu - math.lgamma(k + 1)
        total, term, j = 1.0, 1.0, k
        while True:
            j += 1
            term *= mu / j
            total += term
            if term <= total * 1e-17:
                break
        return min(0.0, log_first + math.log(total))
    log_first = -mu + (k - 1) * log_mu - math.lgamma(k)
    total, term, j = 1.0, 1.0, k - 1
    while j > 0:
        term *= j / mu
        j -= 1
        total += term
        if term <= total * 1e-17:
            break
    lower = math.exp(log_first + math.log(total))
    return math.log1p(-lower) if lower < 1.0 else -math.inf


def poisson_sf(k: int, mu: float) -> float:
    """P[X >= k] for X ~ Poisson(mu) (underflows to 0.0 only below about 1e-308)."""
    return math.exp(poisson_logsf(k, mu))


# --------------------------------------------------------------------------------------------------
# Decisions

# A decision's recent buckets: the bucket of its moment and the ones this long before it, what
# `activity.keeps_alive` judges a contact's company by. 30 reached back 30-45 minutes, into the tail of an
# incident that had ended: an ordinary contact 24 and 36 minutes after two incidents' last contacts (city2 seed
# 2025) held them open, and with 15 neither does (no other figure of the benchmark changed).
RECENT_MINUTES = 15


def recent_bucket_count(bucket_minutes: int) -> int:
    """How many buckets, the newest one included, a decision's recent buckets are."""
    return 1 + RECENT_MINUTES // bucket_minutes


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one key at one event time, with the numbers behind it."""

    key: IncidentKey
    at: dt.datetime
    is_spike: bool
    observed: int
    calls: int
    reports: int
    expected: float
    p_value: float
    window_minutes: int
    reason: str
    # Buckets of the longest window tested, oldest first (zeros included): onset and totals are read from them.
    buckets: tuple[BucketCount, ...] = ()
    # The event time of the contact that made this evaluation (None for a re-evaluation on a timer or on
    # another key's message): an incident's quiet period runs from its last contact, not a bucket bound.
    touched_at: dt.datetime | None = None
    # The windows (minutes) that spiked, shortest first: a slow window alone keeps no incident alive.
    spiking_windows: tuple[int, ...] = ()
    # The baseline's expected count over the recent buckets (`recent_bucket_count`); None: not judged (a stub).
    recent_expected: float | None = None

    @property
    def onset(self) -> dt.datetime | None:
        """Start of the oldest non-empty bucket in the window: where the incident began, as far as counts show."""
        return next((b.start for b in self.buckets if b.observed > 0), None)

    @property
    def latest(self) -> dt.datetime | None:
        """Start of the newest non-empty bucket in the window: the incident's last sign of life."""
        return next((b.start for b in reversed(self.buckets) if b.observed > 0), None)


def judge(observed: int, expected: float, *, min_count: int, significance: float) -> tuple[bool, float, str]:
    """The core rule: (is_spike, p_value, reason) for `observed` events where `expected` were due."""
    p_value = poisson_sf(observed, expected)
    if observed < min_count:
        return False, p_value, f"below min_count ({observed} < {min_count})"
    if p_value >= significance:
        return False, p_value, f"not significant ({observed} vs {expected:.3g} expected, p={p_value:.3g})"
    return True, p_value, f"spike ({observed} vs {expected:.3g} expected, p={p_value:.3g})"


def judge_spread(
    observed: int,
    expected: float,
    *,
    reports_here: int,
    reports_elsewhere: int,
    spread_min_count: int,
    significance: float,
) -> tuple[bool, float]:
    """Below the floor: (is_spike, P[X >= 2 | expected]) for a window whose reports name two or more places.

    The floor stands against one benign cluster of neighbours about one thing, and one thing is in one
    street. `reports_here` are the window's reports in the street of the contact being judged,
    `reports_elsewhere` the district's other reports of the window (another street, or no street known).
    With both, the window holds at least two separate things, each of which could be a benign cluster:
    it is a spike when `observed` reaches `spread_min_count` and two independent things are themselves
    beyond chance, P[X >= 2 | expected] below the significance (which also bounds the tail of `observed`).
    """
    p_two = poisson_sf(2, expected)
    spread = reports_here >= 1 and reports_elsewhere >= 1 and observed >= spread_min_count
    return spread and p_two < significance, p_two


class Expectation(Protocol):
    """What the detector needs from a baseline (`baseline.BaselineModel` is one)."""

    def expected_buckets(self, key: IncidentKey, starts: Iterable[dt.datetime], bucket_minutes: int) -> float: ...


class SpikeDetector:
    """Judges a key's window of buckets against a baseline, with the key's category settings."""

    def __init__(self, config: SpikeConfig, baseline: Expectation) -> None:
        self.config = config
        self.baseline = baseline

    def settings(self, key: IncidentKey) -> CategorySettings:
        return self.config.for_category(key.category)

    def span_starts(self, key: IncidentKey, at: dt.datetime) -> list[dt.datetime]:
        """Bucket starts the consumer must fetch for `evaluate(key, ..., at)`."""
        settings = self.settings(key)
        return window_starts(at, settings.span_minutes, settings.bucket_minutes)

    def evaluate(
        self,
        key: IncidentKey,
        counts: Mapping[dt.datetime, BucketCount],
        at: dt.datetime,
        *,
        touched_at: dt.datetime | None = None,
        street_counts: Mapping[dt.datetime, BucketCount] | None = None,
    ) -> Decision:
        """Judge `key` at event time `at`; `counts` maps bucket start to counters (missing buckets are empty).

        `street_counts`, for a district key: the buckets of the street the contact being judged names
        (its street key), so a window below the floor whose reports name two or more streets can be
        judged as two separate things (`judge_spread`).

        Long because every window is judged in one pass over the same span, so the window reported, its counts
        and the recent expectation all come from the buckets read once; it runs for every contact judged.
        """
        settings = self.settings(key)
        b = settings.bucket_minutes
        starts = _window_starts(bucket_start(at, b), settings.span_minutes, b)
        span = [counts.get(start) or _empty(start) for start in starts]
        here_span: list[BucketCount] | None = None
        if street_counts is not None and not key.is_street and settings.spread_min_count is not None:
            here_span = [street_counts.get(start) or _empty(start) for start in starts]
        if key.is_street:
            min_count, significance = settings.street_min_count, settings.street_significance
        else:
            min_count, significance = settings.min_count, settings.significance
        # Bonferroni over the windows: testing two windows must not double the false alarms.
        per_window = significance / len(settings.windows)

        best: tuple[bool, float, str, int, int, int, int, float] | None = None
        spiking: list[int] = []
        for window in settings.windows:
            buckets = span[len(span) - window // b :]
            observed = sum(x.observed for x in buckets)
            expected = self.baseline.expected_buckets(key, (x.start for x in buckets), b)
            floor = min_count
            if window == settings.slow_window_minutes and settings.slow_min_count is not None:
                floor = max(min_count, settings.slow_min_count)
            is_spike, p_value, reason = judge(observed, expected, min_count=floor, significance=per_window)
            if here_span is not None and settings.spread_min_count is not None and observed < floor:
                here = sum(x.reports for x in here_span[len(span) - window // b :])
                elsewhere = sum(x.reports for x in buckets) - here
                spread, p_two = judge_spread(
                    observed,
                    expected,
                    reports_here=here,
                    reports_elsewhere=elsewhere,
                    spread_min_count=settings.spread_min_count,
                    significance=per_window,
                )
                if spread:
                    is_spike = True
                    reason = (
                        f"spike over streets ({observed} vs {expected:.3g} expected, reports in two or more"
                        f" places, P[2 things]={p_two:.3g})"
                    )
            calls = sum(x.calls for x in buckets)
            reports = sum(x.reports for x in buckets)
            candidate = (is_spike, p_value, reason, window, observed, calls, reports, expected)
            if is_spike:
                spiking.append(window)
            # Report the window that fired (the most significant), else the main one: what the team would look
            # at first, and what an incident's street counts and resolution read.
            if (
                best is None
                or (is_spike and not best[0])
                or (is_spike and best[0] and p_value < best[1])
                or (not is_spike and not best[0] and window == settings.window_minutes)
            ):
                best = candidate
        assert best is not None  # windows is never empty
        recent_expected = self.baseline.expected_buckets(key, starts[-recent_bucket_count(b) :], b)
        is_spike, p_value, reason, window, observed, calls, reports, expected = best
        if not settings.spike_prone:
            is_spike, reason, spiking = False, f"category not spike-prone ({reason})", []
        return Decision(
            key=key,
            at=at,
            is_spike=is_spike,
            observed=observed,
            calls=calls,
            reports=reports,
            expected=expected,
            p_value=p_value,
            window_minutes=window,
            reason=reason,
            buckets=tuple(span),
            touched_at=touched_at,
            spiking_windows=tuple(spiking),
            recent_expected=recent_expected,
        )


class QuietMemo:
    """A key's last decision when no contact touched it: it is the same while its window and baseline are.

    Every step judges every live key again, mostly keys the message did not touch; their window only
    changes when a bucket bound passes or a contact (a late one included) changes a bucket's counters, and
    `evaluate` then depends on nothing else (`at` only picks the window and is stamped on the decision).
    With a hundred live incidents this was nine evaluations in ten of a step's work (benchmarks/e2e).
    Keyed by the expectation object too: a refit makes a new one, and the memo never sees a stale model.
    """

    def __init__(self) -> None:
        self._last: dict[IncidentKey, tuple[object, tuple[BucketCount, ...], Decision]] = {}
        self.hits = 0

    def evaluate(
        self, detector: SpikeDetector, key: IncidentKey, counts: Mapping[dt.datetime, BucketCount], at: dt.datetime
    ) -> Decision:
        """`detector.evaluate(key, counts, at)` with no touched contact and no street counts."""
        settings = detector.settings(key)
        b = settings.bucket_minutes
        span = tuple(
            counts.get(start) or _empty(start)
            for start in _window_starts(bucket_start(at, b), settings.span_minutes, b)
        )
        last = self._last.get(key)
        if last is not None and last[0] is detector.baseline and last[1] == span:
            self.hits += 1
            return dataclasses.replace(last[2], at=at)
        decision = detector.evaluate(key, counts, at)
        self._last[key] = (detector.baseline, span, decision)
        return decision

    def forget(self, keep: Iterable[IncidentKey]) -> None:
        """Drop the keys not in `keep` (the live ones): the memo stays as small as the book."""
        kept = set(keep)
        for key in [k for k in self._last if k not in kept]:
            del self._last[key]

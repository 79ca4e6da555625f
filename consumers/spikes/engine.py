"""The pure part of the spikes consumer: messages in event-time order -> counts, baseline refits, decisions, actions.

The consumer (`handler.py`) and the benchmark (`benchmarks/spikes.py`) run this same code; only the
`CountStore` differs (the database table, or an in-memory `CountTable`). One step per message, in
event-time order, whatever order and batching the broker delivered them in:

* every message adds its increments to the store, then the book steps at the watermark (the latest
  event time seen: event time never runs backwards, a late message is counted in its own bucket and
  judged at the watermark), evaluating the keys the message touched plus the book's live keys;
* the baseline is refitted once per event-time day, at the local midnight that starts it, from the
  history in the store (`fit_window` with `counting_since`), with the incidents resolved so far left
  out and public holidays counted as Sundays: every replica and every replay fits the same model for
  the same day;
* from the first message on, every window is judged against a blend of the learned baseline and the
  conservative prior of `spikes.yaml` (`baseline.Blend`): the prior weighs most while the history is
  short and does not yet carry the weekly rhythm (a district's collection day), the learned baseline
  takes over as days of counts accumulate (`prior.weight_days`). `warmup` (HUB_SPIKES_WARMUP_DAYS,
  default 0) can still hold judging back for a while after counting began;
* timer steps: while an incident is live, the book also steps at every `tick` boundary of event time
  between messages (`process`), and `advance` steps it up to a given moment without a message (the
  consumer's timer on the wall clock in live operation), so updates and resolutions come on time even
  when no message arrives;
* a message stamped further in the future than `max_future_skew` (a telephony clock gone wrong) is
  counted but does not move the watermark: one bad time stamp must not fast-forward every window.
  This is the only place the wall clock is consulted, and only when the caller passes it.

The state (`EngineState`) is plain data and round-trips through `to_dict` / `from_dict` (the baseline
model separately, as it is large and changes once a day), so the consumer keeps it in the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from consumers.spikes.baseline import (
    BaselineModel,
    Blend,
    ClosedDay,
    Exclusion,
    PriorBaseline,
    fit_baseline,
    fit_window,
    learned_weight,
)
from consumers.spikes.config import SpikeConfig
from consumers.spikes.detector import (
    BucketCount,
    CountTable,
    IncidentKey,
    Increment,
    QuietMemo,
    SpikeDetector,
    increments_for_call,
    increments_for_report,
)
from consumers.spikes.lifecycle import Action, AlertBook, Resolve, Silence, Suppress
from contracts.calls import CallLogged
from contracts.reports import ReportFiled

DEFAULT_WARMUP = dt.timedelta(0)
DEFAULT_MAX_FUTURE_SKEW = dt.timedelta(hours=1)
DEFAULT_TICK = dt.timedelta(minutes=1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def event_time(message: CallLogged | ReportFiled) -> dt.datetime:
    """When the message's event happened: a report when filed, a call when the citizen called.

    A call is logged when it ends, but the detector counts it in the bucket of its start (the moment the
    citizen signalled the problem), so its start is its event time too; a long call thereby arrives a
    little late, and is counted where it belongs like any late message.
    """
    if isinstance(message, CallLogged):
        return message.started_at
    return message.filed_at


@dataclass(frozen=True, slots=True)
class Observation:
    """What one call or report adds: its counter increments, at its event time."""

    message_id: str
    at: dt.datetime
    increments: tuple[Increment, ...]

    @property
    def keys(self) -> set[IncidentKey]:
        return {i.key for i in self.increments}


def observe(
    message: CallLogged | ReportFiled,
    message_id: str,
    config: SpikeConfig,
    category_of: Callable[[str], str | None] | None = None,
) -> Observation:
    """The increments of one message (calls need the catalogue's subject -> category mapping)."""
    if isinstance(message, CallLogged):
        increments = increments_for_call(message, config, category_of)
    else:
        increments = increments_for_report(message, config)
    return Observation(message_id, event_time(message).astimezone(dt.UTC), tuple(increments))


class CountStore(Protocol):
    """Where the (key, bucket) counters live. `add` is called before the step that must see the increments."""

    def add(self, increments: Sequence[Increment]) -> None: ...

    def buckets(self, key: IncidentKey, since: dt.datetime) -> Mapping[dt.datetime, BucketCount]:
        """The key's buckets starting at or after `since` (more may be returned; missing ones are empty)."""
        ...

    def history(self, since: dt.datetime, until: dt.datetime) -> Iterable[tuple[IncidentKey, dt.datetime, int]]:
        """(key, bucket start, observed) of every non-empty bucket in [since, until)."""
        ...


class MemoryCounts:
    """A `CountStore` on an in-memory `CountTable`: the benchmark's and the unit tests' store."""

    def __init__(self, table: CountTable | None = None) -> None:
        self.table = table or CountTable()

    def add(self, increments: Sequence[Increment]) -> None:
        self.table.add_all(increments)

    def buckets(self, key: IncidentKey, since: dt.datetime) -> Mapping[dt.datetime, BucketCount]:
        return self.table.buckets(key)

    def history(self, since: dt.datetime, until: dt.datetime) -> Iterable[tuple[IncidentKey, dt.datetime, int]]:
        return self.table.history(since, until)


@dataclass
class EngineState:
    """Everything the engine carries from one batch to the next."""

    book: AlertBook
    watermark: dt.datetime | None = None
    counting_since: dt.datetime | None = None
    baseline_day: dt.date | None = None
    baseline: BaselineModel | None = None
    # Incidents that went quiet, left out of later fits (pruned once older than the fitted history).
    resolved: list[Exclusion] = field(default_factory=list)
    # True while event time keeps up with the wall clock (live operation): the consumer's timer then
    # advances event time on the wall clock; during a replay of the past only messages move it.
    live: bool = False

    @classmethod
    def new(cls, config: SpikeConfig) -> EngineState:
        return cls(book=AlertBook(config))

    def to_dict(self) -> dict[str, Any]:
        """Everything but the baseline model (stored apart: large, and it changes once a day)."""
        return {
            "book": self.book.to_dict(),
            "watermark": _iso(self.watermark),
            "counting_since": _iso(self.counting_since),
            "baseline_day": None if self.baseline_day is None else self.baseline_day.isoformat(),
            "resolved": [[x.category, x.district, x.start.isoformat(), x.end.isoformat()] for x in self.resolved],
            "live": self.live,
        }

    @classmethod
    def from_dict(
        cls, config: SpikeConfig, raw: Mapping[str, Any], *, baseline: BaselineModel | None = None
    ) -> EngineState:
        day = raw.get("baseline_day")
        return cls(
            book=AlertBook.from_dict(config, dict(raw.get("book") or {})),
            watermark=_parse(raw.get("watermark")),
            counting_since=_parse(raw.get("counting_since")),
            baseline_day=None if day is None else dt.date.fromisoformat(day),
            baseline=baseline,
            resolved=[
                Exclusion(str(c), str(d), dt.datetime.fromisoformat(s), dt.datetime.fromisoformat(e))
                for c, d, s, e in raw.get("resolved") or []
            ],
            live=bool(raw.get("live", False)),
        )


def _touched_street(district: IncidentKey, touched: Iterable[IncidentKey]) -> IncidentKey | None:
    """The street key of `district` among the keys a contact touched (a report names one street), if any."""
    return next(
        (
            k
            for k in sorted(touched)
            if k.is_street and k.category == district.category and k.district == district.district
        ),
        None,
    )


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parse(raw: Any) -> dt.datetime | None:
    return None if raw is None else dt.datetime.fromisoformat(str(raw))


@dataclass
class Progress:
    """What one `process` call did, for logs and tests."""

    steps: int = 0
    ticks: int = 0
    learning: int = 0
    future: int = 0
    refits: list[dt.date] = field(default_factory=list)


class SpikeEngine:
    """Steps an `EngineState` through observations; pure apart from the store it is handed."""

    def __init__(
        self,
        config: SpikeConfig,
        *,
        closed_day: ClosedDay | None = None,
        warmup: dt.timedelta = DEFAULT_WARMUP,
        max_future_skew: dt.timedelta = DEFAULT_MAX_FUTURE_SKEW,
        tick: dt.timedelta = DEFAULT_TICK,
    ) -> None:
        if tick <= dt.timedelta(0):
            raise ValueError("tick must be positive")
        self.config = config
        self.closed_day = closed_day
        self.warmup = warmup
        self.max_future_skew = max_future_skew
        self.tick = tick
        self.prior = PriorBaseline(config.prior, config.timezone)
        # The day's expectation, made once per baseline object (the memo below is keyed by it).
        self._blend: tuple[BaselineModel, Blend] | None = None
        self.quiet = QuietMemo()

    def local_day(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.config.tz).date()

    def fit_moment(self, day: dt.date) -> dt.datetime:
        """The local midnight starting `day`, in UTC: the moment the day's baseline is fitted at."""
        return dt.datetime.combine(day, dt.time(0), tzinfo=self.config.tz).astimezone(dt.UTC)

    def process(
        self,
        state: EngineState,
        observations: Iterable[Observation],
        store: CountStore,
        *,
        silences: Sequence[Silence] = (),
        wall_now: dt.datetime | None = None,
        progress: Progress | None = None,
    ) -> list[Action]:
        """Count and judge the observations, one step each in event-time order; the actions, in order."""
        progress = progress if progress is not None else Progress()
        actions: list[Action] = []
        for obs in sorted(observations, key=lambda o: (o.at, o.message_id)):
            store.add(obs.increments)
            if state.counting_since is None or obs.at < state.counting_since:
                state.counting_since = obs.at
            if wall_now is not None and obs.at > wall_now + self.max_future_skew:
                progress.future += 1
                continue
            if state.watermark is not None and obs.at > state.watermark:
                # The timer, in event time: what would have happened between the last message and this one.
                actions.extend(self._ticks(state, obs.at, store, silences, progress, inclusive=False))
            now = obs.at if state.watermark is None or obs.at > state.watermark else state.watermark
            state.watermark = now
            if now < state.counting_since + self.warmup:
                progress.learning += 1
                continue
            actions.extend(self.step(state, now, obs.keys, store, silences, progress, touched_at=obs.at))
        return actions

    def backfill(self, state: EngineState, observations: Iterable[Observation], store: CountStore) -> int:
        """History into the counts, judged never: no step, no action (`hub spikes backfill`). How many.

        Counting begins with the earliest of them (so the blend trusts the history they make), and the
        day's baseline is fitted again at the next step. Event time does not move: the history is past.
        """
        n = 0
        earliest: dt.datetime | None = None
        for obs in observations:
            store.add(obs.increments)
            earliest = obs.at if earliest is None or obs.at < earliest else earliest
            n += 1
        if earliest is not None and (state.counting_since is None or earliest < state.counting_since):
            state.counting_since = earliest
        if n:
            state.baseline, state.baseline_day = None, None
        return n

    def advance(
        self,
        state: EngineState,
        until: dt.datetime,
        store: CountStore,
        *,
        silences: Sequence[Silence] = (),
        progress: Progress | None = None,
    ) -> list[Action]:
        """The timer without a message: step the live incidents at every tick boundary up to `until`.

        Event time moves to the last boundary reached (never backwards, never past `until`). A hub that
        counted nothing yet has no event time to advance.
        """
        if state.watermark is None or until <= state.watermark:
            return []
        progress = progress if progress is not None else Progress()
        return self._ticks(state, until, store, silences, progress, inclusive=True)

    def _ticks(
        self,
        state: EngineState,
        until: dt.datetime,
        store: CountStore,
        silences: Sequence[Silence],
        progress: Progress,
        *,
        inclusive: bool,
    ) -> list[Action]:
        assert state.watermark is not None
        actions: list[Action] = []
        step = self.tick
        moment = _EPOCH + ((state.watermark - _EPOCH) // step + 1) * step
        while moment < until or (inclusive and moment == until):
            state.watermark = moment
            judged = state.counting_since is not None and moment >= state.counting_since + self.warmup
            if judged and state.book.live_keys():
                actions.extend(self.step(state, moment, (), store, silences, progress))
                progress.ticks += 1
            moment += step
        return actions

    def step(
        self,
        state: EngineState,
        now: dt.datetime,
        touched: Iterable[IncidentKey],
        store: CountStore,
        silences: Sequence[Silence],
        progress: Progress,
        *,
        touched_at: dt.datetime | None = None,
    ) -> list[Action]:
        day = self.local_day(now)
        if state.baseline is None or state.baseline_day != day:
            self.refit(state, day, store)
            progress.refits.append(day)
        assert state.baseline is not None
        if self._blend is None or self._blend[0] is not state.baseline:
            self._blend = (state.baseline, self.expectation(state.baseline))
        detector = SpikeDetector(self.config, self._blend[1])
        touched = {k for k in touched if self.config.for_category(k.category).spike_prone}
        # A message's step judges the incidents of the keys it touched, nothing else: every other live incident
        # only changes with time (its window moves a bucket on, it goes quiet, an update's interval passes), and
        # the timer's whole steps (`_ticks`, one per `tick` of event time between messages) judge those. Judging
        # every live key at every message cost a step in proportion to the live incidents (a hundred live keys
        # when every district spikes: most of the spikes consumer's CPU, benchmarks/e2e).
        # A message exactly on a tick boundary takes that tick's place (`_ticks` stops short of the message's time).
        whole = touched_at is None or (now - _EPOCH) % self.tick == dt.timedelta(0)
        only = None if whole else {(k.category, k.district) for k in touched}
        live = set(state.book.live_keys(only))
        keys = sorted(touched | live)
        decisions = []
        for key in keys:
            starts = detector.span_starts(key, now)
            if key not in touched:
                # A live key this message did not touch: the same window gives the same decision.
                decisions.append(self.quiet.evaluate(detector, key, store.buckets(key, starts[0]), now))
                continue
            at = touched_at
            # A district judged on a report names the report's street: its counts tell whether the
            # window's reports lie in two or more places (the floor's spread route, `judge_spread`).
            street = None if at is None or key.is_street else _touched_street(key, touched)
            street_counts = None if street is None else store.buckets(street, starts[0])
            decisions.append(
                detector.evaluate(key, store.buckets(key, starts[0]), now, touched_at=at, street_counts=street_counts)
            )
        actions = state.book.step(now, decisions, silences, only=only)
        if only is None or actions:
            self.quiet.forget(state.book.live_keys())
        for action in actions:
            if isinstance(action, Resolve) or (isinstance(action, Suppress) and action.kind == "resolve"):
                i = action.incident
                assert i.resolved_at is not None
                state.resolved.append(Exclusion(i.category, i.district, i.onset, i.resolved_at))
        progress.steps += 1
        return actions

    def expectation(self, baseline: BaselineModel) -> Blend:
        """The learned baseline blended with the prior, by the length of history it was fitted from."""
        weight = learned_weight(baseline.fitted_until - baseline.fitted_since, self.config.prior)
        return Blend(baseline, self.prior, weight)

    def refit(self, state: EngineState, day: dt.date, store: CountStore) -> None:
        """Fit the baseline of `day` from the store's history, leaving out the incidents resolved so far."""
        at = self.fit_moment(day)
        settings = self.config.baseline
        since, until = fit_window(at, settings, counting_since=state.counting_since)
        state.resolved = [x for x in state.resolved if x.end > since]
        state.baseline = fit_baseline(
            store.history(since, until),
            since=since,
            until=until,
            settings=settings,
            timezone=self.config.timezone,
            closed_day=self.closed_day,
            exclude=state.resolved,
        )
        state.baseline_day = day

"""The spikes consumer's pure part: event-time order, any batching, warm-up, late and future messages, daily refits."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Mapping, Sequence

import pytest

from consumers.spikes.baseline import BaselineModel
from consumers.spikes.detector import BucketCount, Decision, IncidentKey, QuietMemo, SpikeDetector, bucket_start
from consumers.spikes.engine import (
    EngineState,
    MemoryCounts,
    Observation,
    Progress,
    SpikeEngine,
    event_time,
)
from consumers.spikes.lifecycle import Action, Fire, Resolve, Suppress
from tests.spikes_support import (
    CALENDAR,
    CONFIG,
    TZ,
    WASTE,
    burst,
    observations,
    ordinary_traffic,
    quiet_ticks,
    report,
)

pytestmark = pytest.mark.unit

WARMUP = dt.timedelta(days=7)
START = dt.datetime(2021, 3, 10, 10, 0, tzinfo=TZ)  # a Wednesday morning, after 9 days of history


def engine(**kwargs: dt.timedelta) -> SpikeEngine:
    return SpikeEngine(CONFIG, closed_day=CALENDAR.is_public_holiday, **{"warmup": WARMUP, **kwargs})


@pytest.fixture(scope="module")
def scenario() -> list[Observation]:
    """Nine days of ordinary traffic, a burst about missed collections in Kerkom, then quiet calls elsewhere."""
    events = ordinary_traffic(dt.date(2021, 3, 1), 9, seed=11)
    events += burst(START, run="engine")
    events += quiet_ticks(START + dt.timedelta(minutes=20), [5, 6], run="engine")
    return observations(events)


def summary(actions: Sequence[Action]) -> list[tuple[str, str, str, dt.datetime]]:
    return [(type(a).__name__, getattr(a, "kind", ""), a.incident.incident_id, a.incident.at) for a in actions]


def one_step_each(obs: Sequence[Observation]) -> list[Action]:
    e, state, store = engine(), EngineState.new(CONFIG), MemoryCounts()
    actions: list[Action] = []
    for o in sorted(obs, key=lambda o: (o.at, o.message_id)):
        actions += e.process(state, [o], store)
    return actions


def test_the_burst_fires_once_and_resolves_once_after_the_quiet_period(scenario: list[Observation]) -> None:
    actions = one_step_each(scenario)
    fires = [a for a in actions if isinstance(a, Fire)]
    resolves = [a for a in actions if isinstance(a, Resolve)]
    assert [f.incident.incident_id for f in fires] == ["inc-waste.missed_collection-kerkom-2021-03-10T1000"]
    assert [r.incident.incident_id for r in resolves] == [fires[0].incident.incident_id]
    fired = fires[0].incident
    assert START <= fired.at <= START + dt.timedelta(minutes=20)
    final = resolves[0].incident
    assert final.resolved_at is not None
    # Resolved at the end of the quiet period after the last bucket with calls or reports, not whenever the
    # next message (five hours later) happened to come.
    quiet = dt.timedelta(minutes=CONFIG.for_category(WASTE).quiet_minutes)
    assert final.resolved_at == final.last_active_at + quiet
    assert final.last_active_at <= START + dt.timedelta(minutes=35)
    # ... and sent on the timer (event time between messages): within one tick of it.
    assert final.resolved_at <= final.at < final.resolved_at + dt.timedelta(minutes=1)


def test_any_batching_and_any_order_within_a_batch_give_the_same_alerts(scenario: list[Observation]) -> None:
    reference = summary(one_step_each(scenario))
    rng = random.Random(7)
    ordered = sorted(scenario, key=lambda o: (o.at, o.message_id))
    for _ in range(3):
        e, state, store = engine(), EngineState.new(CONFIG), MemoryCounts()
        actions: list[Action] = []
        i = 0
        while i < len(ordered):
            size = rng.choice([1, 7, 64, 500])
            batch = ordered[i : i + size]
            rng.shuffle(batch)  # the batcher applies deliveries in message-id order, not event-time order
            actions += e.process(state, batch, store)
            i += size
        assert summary(actions) == reference


class _Forgetful(QuietMemo):
    """Judges every live key again on every step: what the engine did before the memo."""

    def evaluate(
        self, detector: SpikeDetector, key: IncidentKey, counts: Mapping[dt.datetime, BucketCount], at: dt.datetime
    ) -> Decision:
        return detector.evaluate(key, counts, at)


def test_a_live_key_no_message_touched_is_decided_as_if_judged_again(scenario: list[Observation]) -> None:
    remembering, forgetful = engine(), engine()
    forgetful.quiet = _Forgetful()
    outcomes = []
    for e in (remembering, forgetful):
        state, store = EngineState.new(CONFIG), MemoryCounts()
        actions: list[Action] = []
        for o in sorted(scenario, key=lambda o: (o.at, o.message_id)):
            actions += e.process(state, [o], store)
        outcomes.append((actions, state.to_dict()))
    assert remembering.quiet.hits > 0
    assert outcomes[0] == outcomes[1]
    assert any(isinstance(a, Resolve) for a in outcomes[0][0])


def test_state_round_trips_through_plain_data_mid_stream(scenario: list[Observation]) -> None:
    reference = summary(one_step_each(scenario))
    ordered = sorted(scenario, key=lambda o: (o.at, o.message_id))
    cut = next(i for i, o in enumerate(ordered) if o.at >= START + dt.timedelta(minutes=10))
    e, state, store = engine(), EngineState.new(CONFIG), MemoryCounts()
    first = e.process(state, ordered[:cut], store)
    assert state.book.live_keys(), "cut in the middle of the live incident"
    assert state.baseline is not None
    # What the consumer stores: the state as JSON, the baseline apart; the process may restart in between.
    raw = json.loads(json.dumps(state.to_dict()))
    model = BaselineModel.from_dict(
        json.loads(json.dumps(state.baseline.to_dict())), closed_day=CALENDAR.is_public_holiday
    )
    restored = EngineState.from_dict(CONFIG, raw, baseline=model)
    rest = engine().process(restored, ordered[cut:], store)
    assert summary(first + rest) == reference


def test_nothing_is_judged_while_the_baseline_learns() -> None:
    early = dt.datetime(2021, 3, 3, 10, 0, tzinfo=TZ)
    events = ordinary_traffic(dt.date(2021, 3, 1), 4, seed=3) + burst(early, run="early", calls=8, reports=12)
    progress = Progress()
    actions = engine().process(EngineState.new(CONFIG), observations(events), MemoryCounts(), progress=progress)
    assert actions == []
    assert progress.steps == 0
    assert progress.refits == []
    assert progress.learning == len(events)
    # The same burst after the warm-up is an incident.
    later = engine(warmup=dt.timedelta(0)).process(EngineState.new(CONFIG), observations(events), MemoryCounts())
    assert any(isinstance(a, Fire) for a in later)


def test_a_late_message_is_counted_in_its_own_bucket_and_judged_at_the_watermark() -> None:
    e, state, store = engine(warmup=dt.timedelta(0)), EngineState.new(CONFIG), MemoryCounts()
    now = START + dt.timedelta(hours=2)
    e.process(
        state, observations([report(now, category=WASTE, district="Velm", street="Hoogstraat", run="w", n=1)]), store
    )
    late = report(START, category=WASTE, district="Velm", street="Hoogstraat", run="w", n=2)
    e.process(state, observations([late]), store)
    assert state.watermark == now.astimezone(dt.UTC)
    key = IncidentKey(WASTE, "Velm")
    assert store.buckets(key, START)[bucket_start(START, 15)].reports == 1


def test_a_message_from_the_future_is_counted_but_does_not_move_event_time() -> None:
    e, state, store = engine(warmup=dt.timedelta(0)), EngineState.new(CONFIG), MemoryCounts()
    wall = START + dt.timedelta(hours=1)
    progress = Progress()
    bogus = report(START + dt.timedelta(days=400), category=WASTE, district="Velm", street="Hoogstraat", run="f", n=1)
    fine = report(START, category=WASTE, district="Velm", street="Hoogstraat", run="f", n=2)
    e.process(state, observations([fine, bogus]), store, wall_now=wall, progress=progress)
    assert progress.future == 1
    assert state.watermark == START.astimezone(dt.UTC)
    assert sum(b.reports for b in store.buckets(IncidentKey(WASTE, "Velm"), START).values()) == 2


def test_the_baseline_is_refitted_once_per_event_time_day_at_local_midnight(scenario: list[Observation]) -> None:
    e, state, store = engine(), EngineState.new(CONFIG), MemoryCounts()
    progress = Progress()
    e.process(state, scenario, store, progress=progress)
    assert progress.refits == sorted(set(progress.refits))
    assert progress.refits[0] == dt.date(2021, 3, 8)  # the first day after the 7-day warm-up
    assert state.baseline is not None
    assert state.baseline_day == progress.refits[-1]
    assert state.baseline.fitted_until == e.fit_moment(state.baseline_day) - dt.timedelta(
        minutes=CONFIG.baseline.guard_minutes
    )
    # The resolved incident is kept, to be left out of later fits.
    assert [(x.category, x.district) for x in state.resolved] == [(WASTE, "Kerkom")]


def test_a_silence_turns_the_fire_into_a_recorded_suppression(scenario: list[Observation]) -> None:
    from consumers.spikes.lifecycle import Silence

    silence = Silence("sil-1", ends_at=START + dt.timedelta(days=1), reason="known: truck broke down", category=WASTE)
    actions = engine().process(EngineState.new(CONFIG), scenario, MemoryCounts(), silences=[silence])
    assert not any(isinstance(a, Fire | Resolve) for a in actions)
    kinds = {a.kind for a in actions if isinstance(a, Suppress)}
    assert {"fire", "resolve"} <= kinds


def test_event_time_of_a_call_is_when_the_citizen_called(scenario: list[Observation]) -> None:
    events = burst(START, run="t", calls=1, reports=0)
    assert event_time(events[0].message) == START

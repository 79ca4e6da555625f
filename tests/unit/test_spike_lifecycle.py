"""The alert lifecycle: one Fire per incident, throttled updates, one Resolve, grouping, inhibition, silences."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest

from consumers.spikes.config import SpikeConfig, load_spike_config
from consumers.spikes.detector import (
    BucketCount,
    CountTable,
    Decision,
    IncidentKey,
    Increment,
    SpikeDetector,
    bucket_start,
)
from consumers.spikes.groups import Scope
from consumers.spikes.lifecycle import (
    Action,
    AlertBook,
    Fire,
    Resolve,
    Silence,
    Suppress,
    Update,
    incident_id,
    slug,
)

pytestmark = pytest.mark.unit

TZ = ZoneInfo("Europe/Brussels")
WASTE = "waste.missed_collection"
LIGHTING = "lighting.defect"
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture(scope="module")
def config() -> SpikeConfig:
    return load_spike_config()


def local(y: int, m: int, d: int, h: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=TZ)


@dataclass
class KeyedBaseline:
    """Expected count per bucket per key (district keys default to `district`, streets to `street`)."""

    district: float = 0.01
    street: float = 0.002
    overrides: Mapping[IncidentKey, float] = field(default_factory=dict)

    def expected_buckets(self, key: IncidentKey, starts: Iterable[dt.datetime], bucket_minutes: int) -> float:
        per = self.overrides.get(key, self.street if key.is_street else self.district)
        return per * sum(1 for _ in starts)


class Harness:
    """Counts, detector and book wired as the consumer will wire them; one step per message, on event time."""

    def __init__(self, config: SpikeConfig, baseline: KeyedBaseline | None = None) -> None:
        self.config = config
        self.table = CountTable()
        self.detector = SpikeDetector(config, baseline or KeyedBaseline())
        self.book = AlertBook(config)
        self.silences: list[Silence] = []
        self.actions: list[Action] = []

    def call(self, at: dt.datetime, category: str, district: str) -> list[Action]:
        inc = Increment(IncidentKey(category, district), bucket_start(at, 15), calls=1)
        return self._apply(at, [inc])

    def report(self, at: dt.datetime, category: str, district: str, street: str) -> list[Action]:
        bucket = bucket_start(at, 15)
        incs = [
            Increment(IncidentKey(category, district), bucket, reports=1),
            Increment(IncidentKey(category, district, street), bucket, reports=1),
        ]
        return self._apply(at, incs)

    def tick(self, at: dt.datetime, keys: Iterable[IncidentKey] = ()) -> list[Action]:
        """A step with no new message: the live keys (and any `keys` named) are judged at `at`."""
        return self._apply(at, [], keys)

    def _apply(self, at: dt.datetime, incs: list[Increment], extra: Iterable[IncidentKey] = ()) -> list[Action]:
        self.table.add_all(incs)
        touched = {i.key for i in incs}
        keys = sorted(touched | set(extra) | set(self.book.live_keys()))
        decisions = [
            self.detector.evaluate(k, self.table.buckets(k), at, touched_at=at if k in touched else None) for k in keys
        ]
        actions = self.book.step(at, decisions, self.silences)
        self.actions.extend(actions)
        return actions

    def of(self, kind: type) -> list[Action]:
        return [a for a in self.actions if isinstance(a, kind)]


def burst(
    h: Harness, start: dt.datetime, n: int, every: dt.timedelta, category: str = WASTE, district: str = "Brustem"
) -> dt.datetime:
    at = start
    for _ in range(n):
        h.call(at, category, district)
        at += every
    return at - every


def ticks(h: Harness, start: dt.datetime, hours: float, every: dt.timedelta = 15 * MINUTE) -> None:
    at = start
    while at <= start + dt.timedelta(hours=hours):
        h.tick(at)
        at += every


# --------------------------------------------------------------------------------------------------
# Fire once, update with restraint, resolve once


def test_one_fire_per_incident_with_a_deterministic_id(config: SpikeConfig) -> None:
    h = Harness(config)
    start = local(2021, 3, 15, 9, 2)
    burst(h, start, 30, 3 * MINUTE)
    fires = h.of(Fire)
    assert len(fires) == 1
    incident = fires[0].incident
    # The id is the group and the local start of its first bucket: any replica computes the same.
    assert incident.incident_id == "inc-waste.missed_collection-brustem-2021-03-15T0900"
    assert incident.incident_key == "waste.missed_collection|district:Brustem"
    assert incident.scope is Scope.DISTRICT
    assert incident.detected_at == start + 3 * 3 * MINUTE  # the 4th call: the floor, and far beyond chance
    assert (incident.observed, incident.calls_in_window) == (4, 4)


def test_updates_are_throttled_and_need_growth(config: SpikeConfig) -> None:
    h = Harness(config)
    start = local(2021, 3, 15, 9, 0)
    last = burst(h, start, 150, MINUTE)  # a call a minute for two and a half hours
    fire = h.of(Fire)[0]
    updates = [a.incident for a in h.of(Update)]
    assert updates, "a fast-growing incident is updated"
    sent = [fire.incident, *updates]
    interval = dt.timedelta(minutes=config.for_category(WASTE).update_interval_minutes)
    for before, after in itertools.pairwise(sent):
        assert after.at - before.at >= interval
        assert after.total_observed >= 1.5 * before.total_observed
    # Growth 1.5x from 5 needs 8, 12, 18, 27, ...; in 150 minutes at most 150 / 30 = 5 updates.
    assert len(updates) <= 5
    assert all(u.incident_id == fire.incident.incident_id for u in updates)
    assert updates[-1].at <= last


def test_resolve_is_sent_exactly_once_after_the_quiet_period(config: SpikeConfig) -> None:
    h = Harness(config)
    start = local(2021, 3, 15, 9, 0)
    last = burst(h, start, 12, 5 * MINUTE)
    ticks(h, last, hours=12)
    resolves = h.of(Resolve)
    assert len(resolves) == 1
    incident = resolves[0].incident
    quiet = dt.timedelta(minutes=config.for_category(WASTE).quiet_minutes)
    # The time stamp is the end of the quiet period that began with the last call, whatever the step cadence.
    assert last == local(2021, 3, 15, 9, 55)
    assert incident.last_active_at == last
    assert incident.resolved_at == last + quiet
    assert incident.total_calls == 12
    assert h.book.live_keys() == []
    # Nothing is resolved twice, even when the state is reloaded and time keeps running.
    book = AlertBook.from_dict(config, json.loads(json.dumps(h.book.to_dict())))
    h.book = book
    ticks(h, last + dt.timedelta(hours=12), hours=6)
    assert len(h.of(Resolve)) == 1


def test_no_resolve_while_counts_stay_high_without_being_significant(config: SpikeConfig) -> None:
    # Hysteresis: a window of 12 where 3 were due (p = 1e-4) is no spike at 1e-5, but it is not quiet either:
    # quiet is below the floor or not even half-way to significant (p >= sqrt(significance)).
    book = AlertBook(config)
    key = IncidentKey(WASTE, "Velm")
    t0 = local(2021, 3, 15, 9)

    def decision(at: dt.datetime, observed: int, *, spike: bool) -> Decision:
        start = bucket_start(at, 15)
        return Decision(
            key,
            at,
            spike,
            observed,
            observed,
            0,
            3.0,
            1e-9 if spike else 1e-4,
            120,
            "test",
            (BucketCount(start, observed),),
        )

    assert isinstance(book.step(t0, [decision(t0, 12, spike=True)])[0], Fire)
    at = t0
    for _ in range(24):  # six hours of an elevated but unremarkable count
        at += 15 * MINUTE
        assert not [a for a in book.step(at, [decision(at, 12, spike=False)]) if isinstance(a, Resolve)]
    at += 15 * MINUTE
    resolved = [a for a in book.step(at, [decision(at, 2, spike=False)]) if isinstance(a, Resolve)]
    assert len(resolved) == 1


def test_a_busy_districts_ordinary_contacts_do_not_hold_an_incident_open(config: SpikeConfig) -> None:
    # A district's collection day: a contact every 15 minutes is its ordinary traffic. A missed round brings
    # thirty calls in ten minutes; for two hours after it, while the burst still fills the window, the district's
    # ordinary contacts come two in half an hour: as many as its baseline expects, so none of them is the
    # incident's and its quiet period runs from the burst's last call.
    district = "Sint-Truiden"
    h = Harness(config, KeyedBaseline(overrides={IncidentKey(WASTE, district): 1.0}))
    start = local(2021, 3, 15, 9, 0)
    last = burst(h, start, 30, 20 * dt.timedelta(seconds=1), district=district)
    assert len(h.of(Fire)) == 1
    ordinary = [start + m * MINUTE for m in (50, 55, 85, 90, 110, 115)]
    for at in ordinary:
        h.call(at, WASTE, district)
    spiking_at = h.detector.evaluate(
        IncidentKey(WASTE, district), h.table.buckets(IncidentKey(WASTE, district)), ordinary[-1]
    )
    assert spiking_at.is_spike  # the burst still fills the window when the last ordinary call comes
    ticks(h, ordinary[-1], hours=6)
    resolves = h.of(Resolve)
    assert len(resolves) == 1
    quiet = dt.timedelta(minutes=config.for_category(WASTE).quiet_minutes)
    assert resolves[0].incident.last_active_at == last
    assert resolves[0].incident.resolved_at == last + quiet


def test_a_new_incident_after_resolution_gets_a_new_id(config: SpikeConfig) -> None:
    h = Harness(config)
    first = burst(h, local(2021, 3, 15, 9), 8, 5 * MINUTE)
    ticks(h, first, hours=5)
    burst(h, local(2021, 3, 15, 16), 8, 5 * MINUTE)
    ids = [a.incident.incident_id for a in h.of(Fire)]
    assert ids == [
        "inc-waste.missed_collection-brustem-2021-03-15T0900",
        "inc-waste.missed_collection-brustem-2021-03-15T1600",
    ]
    assert len(h.of(Resolve)) == 1


# --------------------------------------------------------------------------------------------------
# Grouping and inhibition


def busy_district(district: str) -> KeyedBaseline:
    # A district so busy that ten reports in it are ordinary, while five on one street are not.
    return KeyedBaseline(overrides={IncidentKey(LIGHTING, district): 2.0})


def test_streets_of_one_district_become_one_alert(config: SpikeConfig) -> None:
    h = Harness(config, busy_district("Sint-Truiden"))
    at = local(2021, 11, 8, 18)
    for i in range(5):
        h.report(at + 2 * i * MINUTE, LIGHTING, "Sint-Truiden", "Stapelstraat")
        h.report(at + (2 * i + 1) * MINUTE, LIGHTING, "Sint-Truiden", "Luikerstraat")
    fires = h.of(Fire)
    assert len(fires) == 1
    incident = fires[0].incident
    assert incident.scope is Scope.STREET
    # At the fifth Stapelstraat report only that street has spiked; Luikerstraat follows a minute later.
    assert incident.scope_streets == ("Stapelstraat",)
    # The second street to spike joins the same incident (an update, once the interval allows).
    ticks(h, at + 10 * MINUTE, hours=1)
    updates = h.of(Update)
    assert len(updates) == 1
    assert updates[0].incident.scope_streets == ("Luikerstraat", "Stapelstraat")
    assert updates[0].incident.street is None  # two streets: the draft names both
    assert set(updates[0].incident.affected_streets) == {"Stapelstraat", "Luikerstraat"}
    assert updates[0].incident.incident_id == incident.incident_id


def test_a_street_incident_counts_its_street_not_the_busy_district(config: SpikeConfig) -> None:
    h = Harness(config, busy_district("Sint-Truiden"))
    at = local(2021, 11, 8, 18)
    for i in range(5):
        h.report(at + 3 * i * MINUTE, LIGHTING, "Sint-Truiden", "Stapelstraat")
    for i in range(20):  # the district's ordinary evening: calls about lights elsewhere
        h.call(at + (15 + i) * MINUTE, LIGHTING, "Sint-Truiden")
    fire = h.of(Fire)[0].incident
    assert fire.scope is Scope.STREET
    assert fire.total_observed == 5
    assert h.of(Update) == []  # ordinary district traffic is no growth of a street incident
    ticks(h, at + 35 * MINUTE, hours=10)
    resolved = h.of(Resolve)
    assert len(resolved) == 1
    assert (resolved[0].incident.total_reports, resolved[0].incident.total_calls) == (5, 0)


def test_one_dark_street_is_named_on_its_alert(config: SpikeConfig) -> None:
    h = Harness(config, busy_district("Sint-Truiden"))
    at = local(2021, 11, 8, 18)
    for i in range(5):
        h.report(at + 3 * i * MINUTE, LIGHTING, "Sint-Truiden", "Stapelstraat")
    incident = h.of(Fire)[0].incident
    assert (incident.scope, incident.street) == (Scope.STREET, "Stapelstraat")


def test_a_district_alert_inhibits_its_street_alerts(config: SpikeConfig) -> None:
    h = Harness(config)
    at = local(2021, 11, 8, 18)
    for i in range(5):  # five calls: the district spikes (calls carry no street)
        h.call(at + i * MINUTE, LIGHTING, "Brustem")
    assert len(h.of(Fire)) == 1
    assert h.of(Fire)[0].incident.scope is Scope.DISTRICT
    for i in range(6):  # then six reports of one street: a street spike, inside the district alert
        h.report(at + (10 + i) * MINUTE, LIGHTING, "Brustem", "Kerkstraat")
    assert len(h.of(Fire)) == 1
    inhibited = [a for a in h.of(Suppress) if isinstance(a, Suppress) and a.kind == "street"]
    assert len(inhibited) == 1  # recorded once, not at every step
    assert "inhibited by district alert inc-lighting.defect-brustem-" in inhibited[0].reason
    # The street is named: it holds all the reports of the district.
    ticks(h, at + 16 * MINUTE, hours=1)
    latest = [a.incident for a in h.actions if isinstance(a, Update | Fire)][-1]
    assert latest.affected_streets == ("Kerkstraat",)


def test_a_street_incident_that_spreads_is_widened_not_duplicated(config: SpikeConfig) -> None:
    h = Harness(config, KeyedBaseline(overrides={IncidentKey(LIGHTING, "Velm"): 0.5}))
    at = local(2021, 11, 8, 18)
    for i in range(5):
        h.report(at + i * MINUTE, LIGHTING, "Velm", "Hoogstraat")
    assert h.of(Fire)[0].incident.scope is Scope.STREET
    for i in range(20):
        h.call(at + (6 + i) * MINUTE, LIGHTING, "Velm")
    ticks(h, at + 26 * MINUTE, hours=1)
    assert len(h.of(Fire)) == 1
    widened = [a.incident for a in h.of(Update) if a.incident.scope is Scope.DISTRICT]
    assert widened
    assert widened[0].incident_id == h.of(Fire)[0].incident.incident_id


def test_categories_are_separate_incidents(config: SpikeConfig) -> None:
    h = Harness(config)
    at = local(2021, 3, 15, 9)
    burst(h, at, 6, MINUTE, category=WASTE)
    burst(h, at + 10 * MINUTE, 6, MINUTE, category=LIGHTING)
    assert sorted(a.incident.category for a in h.of(Fire)) == [LIGHTING, WASTE]


# --------------------------------------------------------------------------------------------------
# Silences


def test_a_silence_suppresses_but_records(config: SpikeConfig) -> None:
    h = Harness(config)
    at = local(2021, 3, 15, 9)
    h.silences.append(
        Silence(
            "sil-1",
            ends_at=at + dt.timedelta(hours=8),
            reason="known: truck broke down",
            category=WASTE,
            district="Brustem",
        )
    )
    last = burst(h, at, 20, 2 * MINUTE)
    assert h.of(Fire) == []
    suppressed = [a for a in h.of(Suppress) if isinstance(a, Suppress)]
    assert [s.kind for s in suppressed] == ["fire"]  # recorded once, not at every step
    assert "sil-1" in suppressed[0].reason
    assert "truck broke down" in suppressed[0].reason
    assert suppressed[0].incident.incident_id == "inc-waste.missed_collection-brustem-2021-03-15T0900"
    # Silenced throughout: it goes quiet without a Resolve (nothing was announced), but it is recorded.
    ticks(h, last, hours=6)
    assert h.of(Resolve) == []
    assert [a.kind for a in h.of(Suppress) if isinstance(a, Suppress)] == ["fire", "resolve"]


def test_an_incident_still_live_when_its_silence_ends_is_announced(config: SpikeConfig) -> None:
    h = Harness(config)
    at = local(2021, 3, 15, 9)
    key = IncidentKey(WASTE, "Brustem")
    h.silences.append(Silence.for_key(key, silence_id="sil-2", ends_at=at + 30 * MINUTE, reason="checking"))
    burst(h, at, 40, 2 * MINUTE)
    fires = h.of(Fire)
    assert len(fires) == 1
    assert fires[0].incident.at >= at + 30 * MINUTE


def test_an_incident_that_calmed_down_during_its_silence_stays_unannounced(config: SpikeConfig) -> None:
    h = Harness(config)
    at = local(2021, 3, 15, 9)
    h.silences.append(Silence("sil-4", ends_at=at + dt.timedelta(hours=2, minutes=30), reason="r", category=WASTE))
    last = burst(h, at, 8, 2 * MINUTE)
    ticks(h, last, hours=6)
    assert h.of(Fire) == []
    assert h.of(Resolve) == []
    assert [a.kind for a in h.of(Suppress) if isinstance(a, Suppress)] == ["fire", "resolve"]


def test_a_silence_mutes_updates_but_a_sent_fire_still_gets_its_resolve(config: SpikeConfig) -> None:
    h = Harness(config)
    at = local(2021, 3, 15, 9)
    burst(h, at, 6, MINUTE)
    assert len(h.of(Fire)) == 1
    h.silences.append(Silence("sil-3", ends_at=at + dt.timedelta(days=1), reason="team informed", district="Brustem"))
    last = burst(h, at + 6 * MINUTE, 60, MINUTE)
    assert h.of(Update) == []
    assert [a.kind for a in h.of(Suppress) if isinstance(a, Suppress)].count("update") >= 1
    ticks(h, last, hours=6)
    assert len(h.of(Resolve)) == 1


def test_silences_match_by_category_district_and_street() -> None:
    end = local(2021, 3, 16)
    any_waste = Silence("s", end, "r", category=WASTE)
    brustem = Silence("s", end, "r", district="Brustem")
    street = Silence("s", end, "r", category=LIGHTING, district="Brustem", street="Kerkstraat")
    assert any_waste.active(local(2021, 3, 15))
    assert not any_waste.active(end)
    assert not Silence("s", end, "r", starts_at=local(2021, 3, 15, 12)).active(local(2021, 3, 15, 11))
    h = Harness(load_spike_config())
    t = local(2021, 11, 8, 18)
    for i in range(5):
        h.report(t + i * MINUTE, LIGHTING, "Brustem", "Kerkstraat")
    incident = h.of(Fire)[0].incident
    assert incident.street == "Kerkstraat"
    assert brustem.matches(incident)
    assert street.matches(incident)
    assert not any_waste.matches(incident)
    assert not Silence("s", end, "r", street="Stapelstraat").matches(incident)


# --------------------------------------------------------------------------------------------------
# Event time, persistence, replicas


def scenario(h: Harness, *, until: dt.datetime | None = None, after: dt.datetime | None = None) -> None:
    """A busy morning: a missed collection, a dark street, and a silence, replayed on event time."""
    t = local(2021, 3, 15, 8)
    h.silences[:] = [Silence("sil-x", ends_at=local(2021, 3, 15, 10), reason="r", category=LIGHTING)]
    events: list[tuple[dt.datetime, str, str, str | None]] = []
    for i in range(40):
        events.append((t + dt.timedelta(minutes=60 + 2 * i), WASTE, "Brustem", None))
    for i in range(12):
        events.append((t + dt.timedelta(minutes=70 + 7 * i), LIGHTING, "Velm", "Hoogstraat"))
    for i in range(20):
        events.append((t + dt.timedelta(minutes=400 + 5 * i), WASTE, "Velm", None))
    events.sort(key=lambda e: e[0])
    for at, category, district, street in events:
        if (until is not None and at >= until) or (after is not None and at < after):
            continue
        if street is None:
            h.call(at, category, district)
        else:
            h.report(at, category, district, street)
    if until is None:
        ticks(h, events[-1][0], hours=10)


def test_state_round_trips_with_identical_future_behaviour(config: SpikeConfig) -> None:
    straight = Harness(config)
    scenario(straight)

    split = Harness(config)
    cut = local(2021, 3, 15, 10, 3)
    scenario(split, until=cut)
    before = list(split.actions)
    # Persist and reload the book mid-incident, as the consumer does between batches.
    raw = json.loads(json.dumps(split.book.to_dict()))
    split.book = AlertBook.from_dict(config, raw)
    assert split.book.to_dict() == raw
    scenario(split, after=cut)
    assert split.actions == straight.actions
    assert len(before) < len(straight.actions)
    kinds = {type(a).__name__ for a in straight.actions}
    assert kinds >= {"Fire", "Update", "Resolve", "Suppress"}


def test_two_replicas_name_the_incident_alike_whatever_their_step_cadence(config: SpikeConfig) -> None:
    every_event = Harness(config)
    sparse = Harness(config)
    start = local(2021, 3, 15, 9, 7)
    for i in range(20):
        at = start + 3 * i * MINUTE
        every_event.call(at, WASTE, "Gorsem")
        # The other replica only counts here and steps at five-minute marks.
        sparse.table.add(Increment(IncidentKey(WASTE, "Gorsem"), bucket_start(at, 15), calls=1))
    t = start
    while t <= start + dt.timedelta(hours=1):
        sparse.tick(t, [IncidentKey(WASTE, "Gorsem")])
        t += 5 * MINUTE
    assert every_event.of(Fire)[0].incident.incident_id == sparse.of(Fire)[0].incident.incident_id


def test_event_time_never_runs_backwards(config: SpikeConfig) -> None:
    h = Harness(config)
    last = burst(h, local(2021, 3, 15, 9), 6, MINUTE)
    assert h.book.watermark == last
    h.tick(local(2021, 3, 15, 7))  # a late batch
    assert h.book.watermark == last


def test_ids_are_ascii_slugs() -> None:
    assert slug("Sint-Truiden") == "sint-truiden"
    assert slug("Groot Gelmen / Kerkom") == "groot-gelmen-kerkom"
    assert slug("Élégie") == "elegie"
    assert (
        incident_id(WASTE, "Sint-Truiden", local(2021, 3, 15, 9, 45))
        == "inc-waste.missed_collection-sint-truiden-2021-03-15T0945"
    )


def test_naive_event_time_is_refused(config: SpikeConfig) -> None:
    with pytest.raises(ValueError, match="naive"):
        AlertBook(config).step(dt.datetime(2021, 3, 15, 9), [])

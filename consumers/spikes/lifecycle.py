"""The alert lifecycle: detector decisions in, notifications out. Alertmanager's ideas, on event time.

One incident per *group* = category x district (Alertmanager's `group_by`):

* The district key and the street keys of a group are its alerts. The first of them to spike opens the
  incident and sends `Fire`. Several streets of one district that spike together are one incident that
  lists them, not one message per street.
* A district-wide spike *inhibits* street-level ones: while the incident has district scope, a street
  that starts spiking is recorded (`Suppress`, kind "street") and named among the affected streets, but
  sends nothing of its own. An incident that began on one street and then spreads to the district is
  widened (an `Update`), not duplicated.
* `Update` when the incident's total count since its onset grew by `update_growth` (or its scope
  changed), at most once per `update_interval_minutes` (Alertmanager's `group_interval`, without its
  surprising `repeat_interval` re-sends of unchanged alerts).
* `Resolve` once `quiet_minutes` passed since the incident's last sign of life (the event time of the
  latest contact that made one of its windows spike), the window no longer spikes *and* its count is low again
  (hysteresis, so a flickering count does not resolve and re-fire). It is sent exactly once: the
  incident leaves the book with it. Its `resolved_at` is the end of the quiet period, not the moment a
  step happened to notice, so any batching of steps gives the same time stamp.
* Silences (by incident key, or by category and/or district, with an end time and a reason) turn a
  `Fire` or an `Update` into a `Suppress` that the consumer records but does not send. An incident
  still going on when its silence ends is announced then. A `Fire` that was sent always gets its
  `Resolve`, silenced or not, so no alert is left dangling on the team's board; an incident that was
  never announced goes quiet with a `Suppress` of kind "resolve" instead.

Incident ids are deterministic: category, district and the local time of the incident's first
non-empty bucket (`inc-waste.missed_collection-brustem-2021-03-15T0900`), so two replicas that see the
same counts produce the same id and the database's unique key drops the second `SpikeDetected`.

The book's only clock is the `now` passed to `step` (event time; it never goes backwards). Its state
round-trips through `to_dict` / `from_dict` with identical future behaviour, so the consumer can keep
it in the database instead of in memory.

Callers must, at every step, pass a decision for each key in `live_keys()` besides the keys the step's
messages touched: a live key without a decision is taken to have had no events in its window. A step may be
narrowed to some incidents (`step(..., only=...)`, with the decisions of `live_keys(only)`): the others are left
as they are, to be stepped by a later, whole step (the engine's timer, once a minute of event time).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from consumers.spikes.activity import is_quiet, keeps_alive, last_contact, opened_at
from consumers.spikes.config import CategorySettings, SpikeConfig
from consumers.spikes.detector import Decision, IncidentKey
from consumers.spikes.groups import Group, Scope, Window


def slug(text: str) -> str:
    """ASCII, lower-case, dash-separated: stable across replicas and safe in ids."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "x"


def incident_id(category: str, district: str, onset_local: dt.datetime) -> str:
    """Deterministic incident id from the group and the local start of the incident's first bucket."""
    return f"inc-{category}-{slug(district)}-{onset_local:%Y-%m-%dT%H%M}"


@dataclass(frozen=True, slots=True)
class Silence:
    """Mute notifications for an incident key or a category and/or district until `ends_at`, with a reason.

    `None` in `category` or `district` matches any; a `street` matches only an incident about that street.
    """

    silence_id: str
    ends_at: dt.datetime
    reason: str
    category: str | None = None
    district: str | None = None
    street: str | None = None
    starts_at: dt.datetime | None = None

    @classmethod
    def for_key(
        cls,
        key: IncidentKey,
        *,
        silence_id: str,
        ends_at: dt.datetime,
        reason: str,
        starts_at: dt.datetime | None = None,
    ) -> Silence:
        return cls(silence_id, ends_at, reason, key.category, key.district, key.street, starts_at)

    def active(self, at: dt.datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= at) and at < self.ends_at

    def matches(self, incident: Incident) -> bool:
        return (
            (self.category is None or self.category == incident.category)
            and (self.district is None or self.district == incident.district)
            and (self.street is None or self.street == incident.street)
        )


@dataclass(frozen=True, slots=True)
class Incident:
    """A snapshot of an incident, as an action carries it."""

    incident_id: str
    incident_key: str
    category: str
    district: str
    # The one street the incident is about, if any: a single spiking street, or a district spike
    # whose reports mostly name one street (`street_min_share`).
    street: str | None
    scope: Scope
    # The streets the draft names: the spiking streets of a street-level incident, or the one
    # dominant street of a district-wide one; empty for a district-wide incident without one.
    scope_streets: tuple[str, ...]
    affected_streets: tuple[str, ...]
    onset: dt.datetime
    detected_at: dt.datetime
    # The last step at which a window of the incident spiked, and the end of the newest non-empty bucket
    # of such a window (the quiet period runs from there).
    last_spike_at: dt.datetime
    last_active_at: dt.datetime
    at: dt.datetime
    window_minutes: int
    observed: int
    calls_in_window: int
    reports_in_window: int
    expected: float
    p_value: float
    total_calls: int
    total_reports: int
    total_observed: int
    resolved_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Fire:
    incident: Incident


@dataclass(frozen=True, slots=True)
class Update:
    incident: Incident


@dataclass(frozen=True, slots=True)
class Resolve:
    incident: Incident


SuppressedKind = Literal["fire", "update", "resolve", "street"]


@dataclass(frozen=True, slots=True)
class Suppress:
    """A notification recorded but not sent: silenced, inhibited, or the quiet end of an unannounced incident."""

    incident: Incident
    kind: SuppressedKind
    reason: str


Action = Fire | Update | Resolve | Suppress


class AlertBook:
    """The live incidents and the rules that turn decisions into actions. Pure; state via to_dict/from_dict."""

    def __init__(self, config: SpikeConfig) -> None:
        self.config = config
        self._groups: dict[tuple[str, str], Group] = {}
        self._watermark: dt.datetime | None = None

    # ---- queries

    def live_keys(self, only: Iterable[tuple[str, str]] | None = None) -> list[IncidentKey]:
        """Keys the caller must evaluate at every step while their incident is live (of the incidents `only`:
        (category, district) pairs)."""
        keys: list[IncidentKey] = []
        if only is None:
            groups = sorted(self._groups.items())
        else:
            groups = sorted((k, self._groups[k]) for k in set(only) if k in self._groups)
        for (category, district), g in groups:
            keys.append(IncidentKey(category, district))
            keys.extend(
                IncidentKey(category, district, s) for s in sorted(set(g.street_counts) | set(g.firing_streets))
            )
        return keys

    def incidents(self) -> list[Incident]:
        """Snapshots of the live incidents (announced or silenced)."""
        at = self._watermark
        return [self._snapshot(g, at or g.last_spike_at) for _, g in sorted(self._groups.items())]

    @property
    def watermark(self) -> dt.datetime | None:
        return self._watermark

    # ---- the state machine

    def step(
        self,
        now: dt.datetime,
        decisions: Iterable[Decision],
        silences: Iterable[Silence] = (),
        *,
        only: Iterable[tuple[str, str]] | None = None,
    ) -> list[Action]:
        """Advance to event time `now` with the decisions made at it; return the actions, in a stable order.

        `only`: step only these incidents ((category, district)) and those the decisions open; the other live
        ones wait for a whole step.
        """
        if now.tzinfo is None:
            raise ValueError("naive datetime: event time carries its offset")
        # Event time never runs backwards: a late batch is judged at the time already reached.
        if self._watermark is not None and now < self._watermark:
            now = self._watermark
        self._watermark = now
        active = sorted((s for s in silences if s.active(now)), key=lambda s: s.silence_id)

        by_group: dict[tuple[str, str], dict[str | None, Decision]] = {}
        for d in decisions:
            per_key = by_group.setdefault((d.key.category, d.key.district), {})
            previous = per_key.get(d.key.street)
            if previous is None or d.at >= previous.at:
                per_key[d.key.street] = d

        actions: list[Action] = []
        stepped = set(self._groups) if only is None else {g for g in only if g in self._groups}
        for group_key in sorted(set(by_group) | stepped):
            per_key = by_group.get(group_key, {})
            settings = self.config.for_category(group_key[0])
            group = self._groups.get(group_key)
            if group is None:
                actions.extend(self._open(group_key, per_key, settings, now, active))
            else:
                actions.extend(self._advance(group, per_key, settings, now, active))
        return actions

    def _open(
        self,
        group_key: tuple[str, str],
        per_key: dict[str | None, Decision],
        settings: CategorySettings,
        now: dt.datetime,
        silences: list[Silence],
    ) -> list[Action]:
        district_d = per_key.get(None)
        spiking_streets = sorted(s for s, d in per_key.items() if s is not None and d.is_spike)
        if not (district_d is not None and district_d.is_spike) and not spiking_streets:
            return []
        if district_d is not None and district_d.is_spike:
            scope, primary = Scope.DISTRICT, district_d
        else:
            scope = Scope.STREET
            primary = min((per_key[s] for s in spiking_streets), key=lambda d: (d.p_value, d.key))
        onset = primary.onset or now
        category, district = group_key
        group = Group(
            category=category,
            district=district,
            incident_id=incident_id(category, district, onset.astimezone(self.config.tz)),
            scope=scope,
            onset=onset,
            detected_at=now,
            last_spike_at=now,
            last_active_at=opened_at(primary, settings, now),
            window=Window.of(primary),
            firing_streets=list(spiking_streets) if scope is Scope.STREET else [],
        )
        self._groups[group_key] = group
        self._absorb(group, per_key)

        actions: list[Action] = []
        silence = self._silence_for(self._snapshot(group, now), silences)
        if silence is not None:
            group.fire_suppressed = True
            actions.append(Suppress(self._snapshot(group, now), "fire", _silenced(silence)))
        else:
            actions.append(self._fire(group, now))
        if scope is Scope.DISTRICT:
            actions.extend(self._inhibit(group, spiking_streets, now))
        return actions

    def _advance(
        self,
        group: Group,
        per_key: dict[str | None, Decision],
        settings: CategorySettings,
        now: dt.datetime,
        silences: list[Silence],
    ) -> list[Action]:
        """One step of an open incident: widen or extend it, resolve it once quiet, else announce or update it."""
        actions: list[Action] = []
        district_d = per_key.get(None)
        self._absorb(group, per_key)
        district_spiking = district_d is not None and district_d.is_spike
        spiking_streets = sorted(s for s, d in per_key.items() if s is not None and d.is_spike)

        if district_spiking or spiking_streets:
            group.last_spike_at = now
            latest = last_contact(d for d in per_key.values() if d.is_spike and keeps_alive(d, settings))
            if latest is not None:
                group.last_active_at = max(group.last_active_at, latest)
        if district_spiking and group.scope is Scope.STREET:
            # The street incident spread: widen it to the district rather than open a second alert.
            group.scope = Scope.DISTRICT
            group.pending_change = True
        if group.scope is Scope.DISTRICT:
            actions.extend(self._inhibit(group, spiking_streets, now))
        else:
            joined = [s for s in spiking_streets if s not in group.firing_streets]
            if joined:
                group.firing_streets.extend(joined)
                group.pending_change = True

        quiet = not district_spiking and not spiking_streets and _calm(group, per_key, settings)
        quiet_for = dt.timedelta(minutes=settings.quiet_minutes)
        if quiet and now >= group.last_active_at + quiet_for:
            del self._groups[(group.category, group.district)]
            final = self._snapshot(group, now, resolved_at=group.last_active_at + quiet_for)
            if group.fired:
                actions.append(Resolve(final))
            else:
                actions.append(Suppress(final, "resolve", "went quiet without being announced (silenced throughout)"))
            return actions

        snapshot = self._snapshot(group, now)
        silence = self._silence_for(snapshot, silences)
        if not group.fired:
            if silence is None and not quiet:
                # Its silence ended while the incident is still going on: announce it now. One that is
                # already calming down is left to go quiet unannounced.
                actions.append(self._fire(group, now))
            elif silence is not None and not group.fire_suppressed:
                group.fire_suppressed = True
                actions.append(Suppress(snapshot, "fire", _silenced(silence)))
            return actions

        actions.extend(_update(group, snapshot, silence, settings, now))
        return actions

    # ---- helpers

    def _absorb(self, group: Group, per_key: dict[str | None, Decision]) -> None:
        """Fold this step's decisions into the group: totals, per-street counts, the window shown."""
        district_d = per_key.get(None)
        if district_d is not None:
            group.merge_buckets(district_d.buckets)
        for street, d in per_key.items():
            if street is not None:
                group.street_counts[street] = d.observed
                if street in group.firing_streets or d.is_spike:
                    group.merge_buckets(d.buckets, street)
        if group.scope is Scope.DISTRICT:
            if district_d is not None:
                group.window = Window.of(district_d)
        else:
            firing = [per_key[s] for s in group.firing_streets if s in per_key]
            firing += [d for s, d in per_key.items() if s is not None and d.is_spike and s not in group.firing_streets]
            if firing:
                group.window = Window.of(min(firing, key=lambda d: (d.p_value, d.key)))

    def _inhibit(self, group: Group, spiking_streets: list[str], now: dt.datetime) -> list[Action]:
        actions: list[Action] = []
        for street in spiking_streets:
            if street in group.inhibited_streets:
                continue
            group.inhibited_streets.append(street)
            reason = f"street {street} inhibited by district alert {group.incident_id}"
            actions.append(Suppress(self._snapshot(group, now), "street", reason))
        return actions

    def _fire(self, group: Group, now: dt.datetime) -> Fire:
        group.fired = True
        group.last_sent_at = now
        snapshot = self._snapshot(group, now)
        group.last_sent_total = snapshot.total_observed
        group.pending_change = False
        return Fire(snapshot)

    @staticmethod
    def _silence_for(incident: Incident, silences: list[Silence]) -> Silence | None:
        return next((s for s in silences if s.matches(incident)), None)

    def _snapshot(self, group: Group, now: dt.datetime, *, resolved_at: dt.datetime | None = None) -> Incident:
        settings = self.config.for_category(group.category)
        counted = {s: n for s, n in group.street_counts.items() if n > 0}
        affected = sorted(set(counted) | set(group.firing_streets), key=lambda s: (-counted.get(s, 0), s))
        scope_streets: tuple[str, ...] = ()
        if group.scope is Scope.STREET:
            scope_streets = tuple(sorted(group.firing_streets))
        elif counted:
            top = affected[0]
            # Name one street only when its reports dominate, and there are at least two of them.
            if counted.get(top, 0) >= 2 and counted[top] >= settings.street_min_share * sum(counted.values()):
                scope_streets = (top,)
        street = scope_streets[0] if len(scope_streets) == 1 else None
        calls, reports, observed = group.totals()
        w = group.window
        return Incident(
            incident_id=group.incident_id,
            incident_key=group.key.id,
            category=group.category,
            district=group.district,
            street=street,
            scope=group.scope,
            scope_streets=scope_streets,
            affected_streets=tuple(affected),
            onset=group.onset,
            detected_at=group.detected_at,
            last_spike_at=group.last_spike_at,
            last_active_at=group.last_active_at,
            at=now,
            window_minutes=w.window_minutes,
            observed=w.observed,
            calls_in_window=w.calls,
            reports_in_window=w.reports,
            expected=w.expected,
            p_value=w.p_value,
            total_calls=calls,
            total_reports=reports,
            total_observed=max(observed, w.observed),
            resolved_at=resolved_at,
        )

    # ---- persistence

    def to_dict(self) -> dict[str, Any]:
        return {
            "watermark": None if self._watermark is None else self._watermark.isoformat(),
            "groups": [g.to_dict() for _, g in sorted(self._groups.items())],
        }

    @classmethod
    def from_dict(cls, config: SpikeConfig, raw: dict[str, Any]) -> AlertBook:
        book = cls(config)
        book._watermark = None if raw.get("watermark") is None else dt.datetime.fromisoformat(raw["watermark"])
        for g in raw.get("groups", []):
            group = Group.from_dict(g)
            book._groups[(group.category, group.district)] = group
        return book


def _silenced(silence: Silence) -> str:
    return f"silenced by {silence.silence_id} until {silence.ends_at.isoformat()}: {silence.reason}"


def _calm(group: Group, per_key: dict[str | None, Decision], settings: CategorySettings) -> bool:
    """Whether the counts in the incident's scope are low again (a street incident in a busy district is over when
    its streets are, whatever the district does)."""
    return (
        group.scope is Scope.STREET or is_quiet(per_key.get(None), settings.min_count, settings.significance)
    ) and all(
        is_quiet(per_key.get(s), settings.street_min_count, settings.street_significance) for s in group.firing_streets
    )


def _update(
    group: Group, snapshot: Incident, silence: Silence | None, settings: CategorySettings, now: dt.datetime
) -> list[Action]:
    """An announced incident's update, when the interval has passed and it grew or changed (suppressed if silenced)."""
    due = group.last_sent_at is None or now - group.last_sent_at >= dt.timedelta(
        minutes=settings.update_interval_minutes
    )
    grew = snapshot.total_observed >= settings.update_growth * max(1, group.last_sent_total)
    if not (due and (grew or group.pending_change)):
        return []
    group.last_sent_at = now
    if silence is not None:
        # Counts as a send for the throttle, so a silenced incident is recorded once per interval.
        return [Suppress(snapshot, "update", _silenced(silence))]
    group.last_sent_total = snapshot.total_observed
    group.pending_change = False
    return [Update(snapshot)]

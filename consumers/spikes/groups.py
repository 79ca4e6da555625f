"""The alert book's state of one live incident (consumers.spikes.lifecycle): its scope, the window it shows, its
counts per bucket since the onset, what was sent; and the dict it round-trips through, which the consumer keeps in
the database between steps. State only: the rules that change it are the book's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from consumers.spikes.detector import BucketCount, Decision, IncidentKey


class Scope(StrEnum):
    DISTRICT = "district"
    STREET = "street"


@dataclass(slots=True)
class Window:
    window_minutes: int = 0
    observed: int = 0
    calls: int = 0
    reports: int = 0
    expected: float = 0.0
    p_value: float = 1.0

    @classmethod
    def of(cls, d: Decision) -> Window:
        return cls(d.window_minutes, d.observed, d.calls, d.reports, d.expected, d.p_value)


@dataclass(slots=True)
class Group:
    """Mutable state of one live incident (one category x district group)."""

    category: str
    district: str
    incident_id: str
    scope: Scope
    onset: dt.datetime
    detected_at: dt.datetime
    last_spike_at: dt.datetime
    last_active_at: dt.datetime
    window: Window
    firing_streets: list[str] = field(default_factory=list)
    inhibited_streets: list[str] = field(default_factory=list)
    street_counts: dict[str, int] = field(default_factory=dict)
    # (calls, reports, linked calls) per bucket since the onset: of the district key, and of each firing
    # street. A street-level incident in a busy district counts its streets, not the district's traffic.
    buckets: dict[dt.datetime, tuple[int, int, int]] = field(default_factory=dict)
    street_buckets: dict[str, dict[dt.datetime, tuple[int, int, int]]] = field(default_factory=dict)
    fired: bool = False
    fire_suppressed: bool = False
    last_sent_at: dt.datetime | None = None
    last_sent_total: int = 0
    pending_change: bool = False

    @property
    def key(self) -> IncidentKey:
        return IncidentKey(self.category, self.district)

    def totals(self) -> tuple[int, int, int]:
        """(calls, reports, observed) since the onset, over the incident's scope."""
        if self.scope is Scope.DISTRICT:
            counted = list(self.buckets.values())
        else:
            counted = [v for s in self.firing_streets for v in self.street_buckets.get(s, {}).values()]
        calls = sum(c for c, _, _ in counted)
        reports = sum(r for _, r, _ in counted)
        linked = sum(x for _, _, x in counted)
        return calls, reports, calls + reports - linked

    def merge_buckets(self, buckets: Iterable[BucketCount], street: str | None = None) -> None:
        # The latest view of a bucket wins: re-evaluations (and late events) only ever add to a bucket.
        target = self.buckets if street is None else self.street_buckets.setdefault(street, {})
        for b in buckets:
            if b.start >= self.onset and b.observed > 0:
                target[b.start] = (b.calls, b.reports, b.linked_calls)

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "district": self.district,
            "incident_id": self.incident_id,
            "scope": self.scope.value,
            "onset": self.onset.isoformat(),
            "detected_at": self.detected_at.isoformat(),
            "last_spike_at": self.last_spike_at.isoformat(),
            "last_active_at": self.last_active_at.isoformat(),
            "window": [
                self.window.window_minutes,
                self.window.observed,
                self.window.calls,
                self.window.reports,
                self.window.expected,
                self.window.p_value,
            ],
            "firing_streets": list(self.firing_streets),
            "inhibited_streets": list(self.inhibited_streets),
            "street_counts": dict(self.street_counts),
            "buckets": _buckets_to_dict(self.buckets),
            "street_buckets": {s: _buckets_to_dict(b) for s, b in sorted(self.street_buckets.items())},
            "fired": self.fired,
            "fire_suppressed": self.fire_suppressed,
            "last_sent_at": None if self.last_sent_at is None else self.last_sent_at.isoformat(),
            "last_sent_total": self.last_sent_total,
            "pending_change": self.pending_change,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Group:
        w = raw["window"]
        return cls(
            category=str(raw["category"]),
            district=str(raw["district"]),
            incident_id=str(raw["incident_id"]),
            scope=Scope(raw["scope"]),
            onset=dt.datetime.fromisoformat(raw["onset"]),
            detected_at=dt.datetime.fromisoformat(raw["detected_at"]),
            last_spike_at=dt.datetime.fromisoformat(raw["last_spike_at"]),
            last_active_at=dt.datetime.fromisoformat(raw["last_active_at"]),
            window=Window(int(w[0]), int(w[1]), int(w[2]), int(w[3]), float(w[4]), float(w[5])),
            firing_streets=[str(s) for s in raw["firing_streets"]],
            inhibited_streets=[str(s) for s in raw["inhibited_streets"]],
            street_counts={str(s): int(n) for s, n in raw["street_counts"].items()},
            buckets=_buckets_from_dict(raw["buckets"]),
            street_buckets={str(s): _buckets_from_dict(b) for s, b in raw["street_buckets"].items()},
            fired=bool(raw["fired"]),
            fire_suppressed=bool(raw["fire_suppressed"]),
            last_sent_at=None if raw["last_sent_at"] is None else dt.datetime.fromisoformat(raw["last_sent_at"]),
            last_sent_total=int(raw["last_sent_total"]),
            pending_change=bool(raw["pending_change"]),
        )


def _buckets_to_dict(buckets: dict[dt.datetime, tuple[int, int, int]]) -> dict[str, list[int]]:
    return {start.isoformat(): list(v) for start, v in sorted(buckets.items())}


def _buckets_from_dict(raw: dict[str, list[int]]) -> dict[dt.datetime, tuple[int, int, int]]:
    return {dt.datetime.fromisoformat(k): (int(v[0]), int(v[1]), int(v[2])) for k, v in raw.items()}

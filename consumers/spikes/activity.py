"""When an incident is alive and when it is quiet again: the rules `lifecycle.AlertBook` resolves by."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from consumers.spikes.config import CategorySettings
from consumers.spikes.detector import Decision


def last_contact(decisions: Iterable[Decision]) -> dt.datetime | None:
    """The latest contact that made one of these (spiking) windows: the incident's last sign of life.

    Only decisions made on a contact carry its event time; a re-evaluation (a timer step, another key's
    message) adds nothing, as its contacts were counted when they came.
    """
    touched = [d.touched_at for d in decisions if d.touched_at is not None]
    return max(touched) if touched else None


def opened_at(decision: Decision, settings: CategorySettings, now: dt.datetime) -> dt.datetime:
    """Last sign of life of a new incident: its contact, or (re-evaluated) the end of its newest bucket, at most `now`."""
    if decision.touched_at is not None:
        return decision.touched_at
    if decision.latest is None:
        return now
    return min(now, decision.latest + dt.timedelta(minutes=settings.bucket_minutes))


def is_quiet(decision: Decision | None, min_count: int, significance: float) -> bool:
    """No spike and a count that is low again: below the floor, or not even half-way to significant.

    "Half-way" in log terms (p >= sqrt(significance)) is the hysteresis: a flickering count around the
    threshold neither resolves nor re-fires, and a busy district's ordinary traffic does not hold an
    incident open.
    """
    if decision is None:
        return True
    if decision.is_spike:
        return False
    return decision.observed < min_count or decision.p_value >= significance**0.5


# A contact keeps an incident alive only when it is not alone: the incident's recent buckets (this long,
# plus the contact's own) hold another one. A busy district's ordinary contacts, one by one, do not.
RECENT = dt.timedelta(minutes=30)


def keeps_alive(decision: Decision, settings: CategorySettings) -> bool:
    """A contact keeps its incident alive when a window no longer than the main one spikes with it, and it is
    not alone. The slow window holds a burst for hours after it ended: a busy district's ordinary contacts in
    those hours must not hold the incident open (nor, on a decision without windows, a unit test's stub).
    """
    if decision.touched_at is None or not decision.buckets:
        return False
    if decision.spiking_windows and min(decision.spiking_windows) > settings.window_minutes:
        return False
    size = decision.buckets[-1].start - decision.buckets[-2].start if len(decision.buckets) > 1 else RECENT
    n = 1 + int(RECENT / size)
    return sum(b.observed for b in decision.buckets[-n:]) >= 2

"""When an incident is alive and when it is quiet again: the rules `lifecycle.AlertBook` resolves by."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

from consumers.spikes.config import CategorySettings
from consumers.spikes.detector import Decision, poisson_sf, recent_bucket_count


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


def keeps_alive(decision: Decision, settings: CategorySettings) -> bool:
    """A contact keeps its incident alive when a window no longer than the main one spikes with it, and its
    recent buckets (`detector.recent_bucket_count`: its own and the 15 minutes before) are unusual too: they hold
    another contact, and that count is at least half-way to significant against the baseline of those buckets
    (P[X >= recent | recent expected] < sqrt(significance), the hysteresis of `is_quiet`).

    The windows hold a burst for hours after it ended: a busy district's ordinary contacts in those hours must
    not hold the incident open. One contact alone is not enough, nor are two where two are usual (a district's
    collection day: the benchmark's late resolutions), nor, on a decision without windows, a unit test's stub.
    """
    if decision.touched_at is None or not decision.buckets or decision.recent_expected is None:
        return False
    if decision.spiking_windows and min(decision.spiking_windows) > settings.window_minutes:
        return False
    recent = sum(b.observed for b in decision.buckets[-recent_bucket_count(settings.bucket_minutes) :])
    if recent < 2:
        return False
    significance = settings.street_significance if decision.key.is_street else settings.significance
    return poisson_sf(recent, decision.recent_expected) < math.sqrt(significance)

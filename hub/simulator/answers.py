"""How simulated assignees answer their work orders, in event time (pure: no I/O, no clock, no global random).

An answer is planned from the work order actually issued (never guessed up front: a status for an order the hub
has not issued yet would be refused as unknown), with a random stream seeded by the run's seed and the work
order's id, so the same order always gets the same answer:

* it is accepted within its assignee's acknowledgement time (between 10 % and 80 % of `ack_hours` after the
  report's filing), or rejected then with a reason (`reject_share`);
* orders of a few working days are sometimes planned first, for the day they will be done;
* most are done by the end of their due date; a share (`late_share`, different per assignee, so that the
  assignees' figures differ as real ones do) one to six days late; a few are never answered at all
  (`forgotten_share`): they stay open, and overdue once their due date has passed.

Times are the report's filing time plus delays: a replayed 2021 is answered in 2021, whatever the wall clock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from contracts import WorkOrderIssued, WorkOrderStatus

S = WorkOrderStatus
REJECT_REASONS = (
    "Valt niet onder ons contract",
    "Adres niet gevonden ter plaatse",
    "Geen probleem vastgesteld ter plaatse",
    "Private grond: niet voor ons",
)


@dataclass(frozen=True)
class Step:
    """One status change an assignee sends, with its own (event) time."""

    status: WorkOrderStatus
    at: dt.datetime
    planned_for: dt.date | None = None
    reason: str | None = None


@dataclass(frozen=True)
class AnswerProfile:
    """How often assignees reject, finish late or forget; per assignee the late share varies around the mean."""

    reject_share: float = 0.04
    late_share: tuple[float, float] = (0.06, 0.3)  # each assignee's own share is drawn from this range
    forgotten_share: float = 0.015
    planned_share: float = 0.35  # of the orders with at least two working days
    late_days: tuple[int, int] = (1, 6)
    last_hour_on_time: int = 17  # done by 17:00 local on the due date at the latest, if on time


def late_share_of(assignee: str, profile: AnswerProfile, seed: int) -> float:
    """The assignee's own share of late orders: fixed per seed and assignee."""
    low, high = profile.late_share
    rng = random.Random(f"{seed}/late/{assignee}")
    return low + (high - low) * rng.random()


def _rng(seed: int, work_order_id: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}/{work_order_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def plan_answer(
    order: WorkOrderIssued,
    *,
    ack_hours: float,
    tz: ZoneInfo,
    seed: int = 2021,
    profile: AnswerProfile | None = None,
) -> list[Step]:
    """The status changes this assignee will send for this order, in order of time (empty: never answered)."""
    profile = profile or AnswerProfile()
    rng = _rng(seed, order.work_order_id)
    filed = order.report_filed_at or order.issued_at
    if rng.random() < profile.forgotten_share:
        return []
    acknowledged = filed + dt.timedelta(hours=ack_hours * rng.uniform(0.1, 0.8))
    if rng.random() < profile.reject_share:
        return [Step(S.REJECTED, acknowledged, reason=rng.choice(REJECT_REASONS))]
    steps = [Step(S.ACCEPTED, acknowledged)]
    due_end = dt.datetime.combine(order.due_date, dt.time(profile.last_hour_on_time), tzinfo=tz)
    late = rng.random() < late_share_of(order.assignee, profile, seed)
    if late or due_end <= acknowledged + dt.timedelta(minutes=30):
        days = rng.randint(*profile.late_days)
        done = dt.datetime.combine(order.due_date + dt.timedelta(days=days), dt.time(8), tzinfo=tz)
        done += dt.timedelta(minutes=rng.randrange(9 * 60))
        done = max(done, acknowledged + dt.timedelta(hours=1))
    else:
        done = acknowledged + (due_end - acknowledged) * rng.uniform(0.05, 1.0)
    if order.sla_working_days >= 2 and rng.random() < profile.planned_share:
        planned_at = acknowledged + (done - acknowledged) * rng.uniform(0.05, 0.3)
        steps.append(Step(S.PLANNED, planned_at, planned_for=done.astimezone(tz).date()))
    steps.append(Step(S.DONE, done))
    return steps

"""The decisions of the contractors package, pure (no I/O), tested exhaustively.

* the work-order state machine: which status changes are allowed, which are repeats, and why others are not;
* who may send a status update for whom (broker user, HTTP signature, trusted city systems);
* where an unacknowledged work order is escalated;
* the retry schedule of webhook and e-mail deliveries and the circuit breaker of an endpoint;
* when an open order reminds its assignee, and by which channel.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from consumers.domain.catalogue import TRIAGE, Assignee
from contracts import WorkOrderStatus, WorkOrderStatusChanged
from infra.sending import RetrySchedule

S = WorkOrderStatus

# The forward path is issued -> accepted -> planned -> in_progress -> done. Steps may be skipped (a small repair
# is done the day it comes in; planning it is accepting it). `planned` may be planned again with another date.
# `rejected` is possible until the work has started; `done` and `rejected` are final.
ALLOWED: Mapping[WorkOrderStatus, frozenset[WorkOrderStatus]] = {
    S.ISSUED: frozenset({S.ACCEPTED, S.PLANNED, S.IN_PROGRESS, S.DONE, S.REJECTED}),
    S.ACCEPTED: frozenset({S.PLANNED, S.IN_PROGRESS, S.DONE, S.REJECTED}),
    S.PLANNED: frozenset({S.PLANNED, S.IN_PROGRESS, S.DONE, S.REJECTED}),
    S.IN_PROGRESS: frozenset({S.DONE}),
    S.DONE: frozenset(),
    S.REJECTED: frozenset(),
}
OPEN_STATUSES = frozenset({S.ISSUED, S.ACCEPTED, S.PLANNED, S.IN_PROGRESS})


class Verdict(StrEnum):
    APPLY = "apply"
    REPEAT = "repeat"  # the work order already has this status: nothing to do, nothing to refuse
    STALE = "stale"  # an older update overtaken by a newer one (replicas, retries): superseded, nothing to do
    REFUSE = "refuse"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str = ""


def judge_transition(
    current: WorkOrderStatus,
    new: WorkOrderStatus,
    *,
    planned_for: dt.date | None = None,
    current_planned_for: dt.date | None = None,
    reason: str | None = None,
    changed_at: dt.datetime | None = None,
    last_changed_at: dt.datetime | None = None,
) -> Judgement:
    """May a work order in `current` go to `new`? Required fields: `planned_for` for planned, `reason` for rejected.

    An update that is not allowed from `current` but is older than the last applied one (`changed_at` before
    `last_changed_at`) was overtaken, e.g. `accepted` delivered after `planned` by another replica: it is stale,
    not impossible. Anything else not allowed is refused with the reason.
    """
    if new == S.ISSUED:
        return Judgement(Verdict.REFUSE, "'issued' is set by the hub, an assignee cannot send it")
    if new == S.PLANNED and planned_for is None:
        return Judgement(Verdict.REFUSE, "'planned' needs planned_for (the date the work is planned for)")
    if new == S.REJECTED and not (reason and reason.strip()):
        return Judgement(Verdict.REFUSE, "'rejected' needs a reason")
    if new == current and (new != S.PLANNED or planned_for == current_planned_for):
        return Judgement(Verdict.REPEAT)
    overtaken = changed_at is not None and last_changed_at is not None and changed_at < last_changed_at
    if new not in ALLOWED[current]:
        if overtaken:
            return Judgement(Verdict.STALE)
        if not ALLOWED[current]:
            return Judgement(Verdict.REFUSE, f"impossible change {current} -> {new}: '{current}' is final")
        allowed = ", ".join(sorted(ALLOWED[current]))
        return Judgement(Verdict.REFUSE, f"impossible change {current} -> {new} (from '{current}': {allowed})")
    if overtaken and new == current == S.PLANNED:
        return Judgement(Verdict.STALE)  # an older plan must not replace a newer one
    return Judgement(Verdict.APPLY)


def judge_change(
    current: WorkOrderStatus,
    change: WorkOrderStatusChanged,
    current_planned_for: dt.date | None = None,
    last_changed_at: dt.datetime | None = None,
) -> Judgement:
    return judge_transition(
        current,
        change.status,
        planned_for=change.planned_for,
        current_planned_for=current_planned_for,
        reason=change.reason,
        changed_at=change.changed_at,
        last_changed_at=last_changed_at,
    )


# --- who sent it ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sender:
    """Who a status update came from: an AMQP user (RabbitMQ checked `user_id`), a signed HTTP callback, a member
    of staff acting for the contractor (`hub workorders set-status`), or the contractor's signed e-mail link."""

    via: str  # "amqp" | "http" | "staff" | "link"
    user_id: str | None = None
    authenticated_assignee: str | None = None

    @classmethod
    def amqp(cls, user_id: str | None) -> Sender:
        return cls("amqp", user_id=user_id or None)

    @classmethod
    def http(cls, assignee: str) -> Sender:
        return cls("http", authenticated_assignee=assignee)

    @classmethod
    def staff(cls, author: str, assignee: str) -> Sender:
        """A member of staff (the OS user or `--by`) recording a change on behalf of the contractor."""
        return cls("staff", user_id=author, authenticated_assignee=assignee)

    @classmethod
    def link(cls, assignee: str) -> Sender:
        """The contractor itself, through a link of its e-mail signed with its own secret."""
        return cls("link", authenticated_assignee=assignee)

    def label(self) -> str:
        """How the sender reads in the history (`work_order_events.sender`)."""
        if self.via == "http":
            return f"http:{self.authenticated_assignee}"
        if self.via == "staff":
            return f"staff:{self.user_id} on behalf of {self.authenticated_assignee}"
        if self.via == "link":
            return f"email-link:{self.authenticated_assignee}"
        return f"amqp:{self.user_id}"


_MAX_KEY = 190  # inbox and outbox ids are 200 characters; "applied-" is put before it


def inbox_key(sender: Sender, message_id: str) -> str:
    """The deduplication key of a status update: its message id within its authenticated sender."""
    key = f"{sender.label()}/{message_id}"
    if len(key) > _MAX_KEY:
        key = f"{sender.label()[:100]}/sha256:{hashlib.sha256(message_id.encode()).hexdigest()}"
    return key


def vouched_sender(user_id: str | None, vouched: object, hub_user: str | None) -> Sender:
    """Who sent a status update on the broker: its (broker-validated) `user_id`.

    A dead letter replayed by the hub (`hub dlq replay`) is published by the hub's own user, which RabbitMQ validated,
    with the original sender's validated `user_id` in a header (`vouched`): only then does that header count.
    """
    if hub_user and user_id == hub_user and vouched:
        text = vouched.decode("utf-8", "replace") if isinstance(vouched, bytes) else str(vouched)
        return Sender.amqp(text)
    return Sender.amqp(user_id)


def broker_user(prefix: str, assignee: str) -> str:
    return f"{prefix}{assignee}"


def contractor_of_user(prefix: str, user: str, contractors: Sequence[str]) -> str | None:
    """The contractor code of a provisioned broker user, or None for any other user."""
    if not user.startswith(prefix):
        return None
    code = user[len(prefix) :]
    return code if code in contractors else None


def sender_problem(
    assignee: str,
    sender: Sender,
    *,
    user_prefix: str,
    contractors: Sequence[str],
    trusted_users: frozenset[str],
) -> str | None:
    """Why `sender` may not report for `assignee`; None if it may.

    RabbitMQ refuses a publish whose `user_id` is not the authenticated user, so `user_id` is who published.
    A contractor's user reports only for its own work orders; the hub's own user and the trusted city systems
    for any. Without `user_id` nobody can tell who published, so the update is refused.
    """
    if sender.via in ("http", "link"):
        if sender.authenticated_assignee != assignee:
            what = "callback" if sender.via == "http" else "link"
            return f"the {what} was signed for '{sender.authenticated_assignee}', not for '{assignee}'"
        return None
    if sender.via == "staff":
        if not sender.user_id:
            return "a change by staff must name its author"
        if sender.authenticated_assignee != assignee:
            return f"staff act for '{sender.authenticated_assignee}' here, not for '{assignee}'"
        return None
    if sender.user_id is None:
        return "a status update on the broker must carry the AMQP user_id of its sender"
    if sender.user_id in trusted_users:
        return None
    contractor = contractor_of_user(user_prefix, sender.user_id, contractors)
    if contractor is None:
        return f"broker user '{sender.user_id}' may not send status updates"
    if contractor != assignee:
        return f"broker user '{sender.user_id}' sends for '{contractor}' only, not for '{assignee}'"
    return None


# --- escalation ----------------------------------------------------------------------------------------------------


def escalation_target(assignee: Assignee) -> str:
    """The department responsible for a contractor's contract; ContactCenter triage for departments' own orders."""
    return assignee.responsible_department or TRIAGE


def ack_deadline(issued_at: dt.datetime, assignee: Assignee) -> dt.datetime:
    return issued_at + dt.timedelta(hours=assignee.ack_hours)


# --- deliveries ----------------------------------------------------------------------------------------------------

# A contractor's endpoint may be down for a night: up to 20 % jitter, and a `Retry-After` honoured up to a day.
DELIVERY_JITTER = 0.2
DELIVERY_MAX_RETRY_AFTER_S = 24 * 3600.0


def delivery_retry(schedule_s: Sequence[float]) -> RetrySchedule:
    """The retry schedule of webhook and e-mail deliveries (`contractors.delivery_schedule_s`)."""
    return RetrySchedule(schedule_s, jitter=DELIVERY_JITTER, max_retry_after_s=DELIVERY_MAX_RETRY_AFTER_S)


class Circuit(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def circuit_state(
    consecutive_failures: int, open_until: dt.datetime | None, now: dt.datetime, threshold: int
) -> Circuit:
    """Closed below the threshold; open until the cool-down ends; then half-open: one probe decides."""
    if consecutive_failures < threshold:
        return Circuit.CLOSED
    if open_until is not None and now < open_until:
        return Circuit.OPEN
    return Circuit.HALF_OPEN


# --- reminders -----------------------------------------------------------------------------------------------------


def reminder_due(due_date: dt.date, issued_on: dt.date, now_local: dt.datetime, *, hour: int) -> bool:
    """Is it time to remind the assignee of an open order? From `hour` (city time) on its due date, and only for an
    order issued before that day: one issued on or after its due date (a late replay, a same-day SLA) knew its date
    when it came, and what follows is the escalation, not a reminder."""
    if issued_on >= due_date:
        return False
    today = now_local.date()
    return today > due_date or (today == due_date and now_local.hour >= hour)


def reminder_channel(assignee: Assignee) -> str | None:
    """How an assignee is reminded: as its work orders reach it (webhook, e-mail), else by e-mail to its address
    (a queue assignee with one); None when it has neither."""
    if assignee.channel in ("webhook", "email"):
        return assignee.channel
    return "email" if assignee.email else None

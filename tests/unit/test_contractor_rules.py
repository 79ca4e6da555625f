"""The contractors package's pure decisions: state machine (every pair), senders, schedule, circuit, e-mail, plan."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import pytest

from consumers.contractors.email import Envelope, compose_work_order_email
from consumers.contractors.provisioning import provisioning_plan
from consumers.contractors.rules import (
    ALLOWED,
    Circuit,
    Sender,
    Verdict,
    circuit_state,
    delivery_retry,
    escalation_target,
    judge_transition,
    sender_problem,
)
from consumers.domain.catalogue import TRIAGE, Catalogue
from contracts import WorkOrderIssued, WorkOrderStatus
from hub.settings import Settings

pytestmark = pytest.mark.unit

S = WorkOrderStatus
DAY = dt.date(2026, 12, 1)

# The state machine, written out as a table: the test does not derive it from the code.
EXPECTED_APPLY = {
    (S.ISSUED, S.ACCEPTED),
    (S.ISSUED, S.PLANNED),
    (S.ISSUED, S.IN_PROGRESS),
    (S.ISSUED, S.DONE),
    (S.ISSUED, S.REJECTED),
    (S.ACCEPTED, S.PLANNED),
    (S.ACCEPTED, S.IN_PROGRESS),
    (S.ACCEPTED, S.DONE),
    (S.ACCEPTED, S.REJECTED),
    (S.PLANNED, S.IN_PROGRESS),
    (S.PLANNED, S.DONE),
    (S.PLANNED, S.REJECTED),
    (S.IN_PROGRESS, S.DONE),
}
EXPECTED_REPEAT = {(S.ACCEPTED, S.ACCEPTED), (S.PLANNED, S.PLANNED), (S.IN_PROGRESS, S.IN_PROGRESS),
                   (S.DONE, S.DONE), (S.REJECTED, S.REJECTED)}  # fmt: skip


def _judge(current: WorkOrderStatus, new: WorkOrderStatus) -> Verdict:
    return judge_transition(current, new, planned_for=DAY, current_planned_for=DAY, reason="geen materiaal").verdict


@pytest.mark.parametrize(("current", "new"), list(itertools.product(S, S)), ids=lambda s: str(s))
def test_every_status_pair(current: WorkOrderStatus, new: WorkOrderStatus) -> None:
    pair = (current, new)
    expected = (
        Verdict.APPLY if pair in EXPECTED_APPLY else Verdict.REPEAT if pair in EXPECTED_REPEAT else Verdict.REFUSE
    )
    assert _judge(current, new) == expected


def test_refusals_say_why() -> None:
    assert "final" in judge_transition(S.DONE, S.ACCEPTED).reason
    assert "impossible change in_progress -> rejected" in judge_transition(S.IN_PROGRESS, S.REJECTED, reason="x").reason
    assert "set by the hub" in judge_transition(S.ACCEPTED, S.ISSUED).reason
    assert judge_transition(S.ACCEPTED, S.PLANNED).verdict == Verdict.REFUSE  # no date
    assert "planned_for" in judge_transition(S.ACCEPTED, S.PLANNED).reason
    for reason in (None, "", "   "):
        refused = judge_transition(S.ISSUED, S.REJECTED, reason=reason)
        assert refused.verdict == Verdict.REFUSE
        assert "reason" in refused.reason


def test_planned_again_with_another_date_is_a_new_plan() -> None:
    later = DAY + dt.timedelta(days=3)
    assert judge_transition(S.PLANNED, S.PLANNED, planned_for=later, current_planned_for=DAY).verdict == Verdict.APPLY
    assert judge_transition(S.PLANNED, S.PLANNED, planned_for=DAY, current_planned_for=DAY).verdict == Verdict.REPEAT


T0 = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)


@pytest.mark.parametrize(("current", "new"), list(itertools.product(S, S)), ids=lambda s: str(s))
def test_an_overtaken_update_is_stale_never_refused(current: WorkOrderStatus, new: WorkOrderStatus) -> None:
    """Replicas and retries can deliver `accepted` after `planned`: the older update is superseded, not an error."""
    older = judge_transition(
        current, new, planned_for=DAY, current_planned_for=DAY, reason="r",
        changed_at=T0, last_changed_at=T0 + dt.timedelta(minutes=1),
    )  # fmt: skip
    newer = judge_transition(
        current, new, planned_for=DAY, current_planned_for=DAY, reason="r",
        changed_at=T0 + dt.timedelta(minutes=2), last_changed_at=T0 + dt.timedelta(minutes=1),
    )  # fmt: skip
    assert newer.verdict == _judge(current, new)  # in order: the table above
    if new == S.ISSUED:
        assert older.verdict == Verdict.REFUSE
    elif _judge(current, new) == Verdict.REFUSE:
        assert older.verdict == Verdict.STALE
    elif (current, new) == (S.PLANNED, S.PLANNED):
        assert older.verdict == Verdict.REPEAT  # same date
    else:
        assert older.verdict == _judge(current, new)


def test_an_older_plan_does_not_replace_a_newer_one() -> None:
    later = DAY + dt.timedelta(days=3)
    old = judge_transition(
        S.PLANNED, S.PLANNED, planned_for=later, current_planned_for=DAY,
        changed_at=T0, last_changed_at=T0 + dt.timedelta(minutes=1),
    )  # fmt: skip
    assert old.verdict == Verdict.STALE


def test_done_and_rejected_are_final() -> None:
    assert ALLOWED[S.DONE] == frozenset()
    assert ALLOWED[S.REJECTED] == frozenset()


CONTRACTORS = ["waste_company", "grid_operator"]
TRUSTED = frozenset({"hub"})


def _problem(assignee: str, sender: Sender) -> str | None:
    return sender_problem(assignee, sender, user_prefix="contractor-", contractors=CONTRACTORS, trusted_users=TRUSTED)


def test_senders() -> None:
    assert _problem("waste_company", Sender.amqp("contractor-waste_company")) is None
    assert _problem("grid_operator", Sender.amqp("hub")) is None  # the hub's own user: trusted city systems
    assert "not for 'grid_operator'" in (_problem("grid_operator", Sender.amqp("contractor-waste_company")) or "")
    assert "user_id" in (_problem("waste_company", Sender.amqp(None)) or "")
    assert "may not send" in (_problem("waste_company", Sender.amqp("someone-else")) or "")
    assert "may not send" in (_problem("waste_company", Sender.amqp("contractor-unknown")) or "")
    assert _problem("waste_company", Sender.http("waste_company")) is None
    assert "signed for 'grid_operator'" in (_problem("waste_company", Sender.http("grid_operator")) or "")


def test_escalation_goes_to_the_department_responsible_for_the_contract() -> None:
    catalogue = _catalogue()
    assert escalation_target(catalogue.assignee("waste_company")) == "milieudienst"
    assert escalation_target(catalogue.assignee("road_firm")) == "technische_dienst"
    assert escalation_target(catalogue.assignee("groendienst")) == TRIAGE


def test_retry_schedule_grows_spans_more_than_a_day_and_ends() -> None:
    schedule = Settings().contractors.delivery_schedule_s
    retry = delivery_retry(schedule)
    rng = random.Random(7)
    with pytest.raises(ValueError, match="at least 1"):
        retry.next_delay(0)
    delays = [retry.next_delay(n, rng=rng) for n in range(1, len(schedule) + 1)]
    assert all(d is not None for d in delays)
    for base, delay in zip(schedule, delays, strict=True):
        assert delay is not None
        assert base <= delay <= base * 1.2  # jitter only lengthens: the schedule keeps its span
    assert sum(schedule) >= 24 * 3600
    assert retry.next_delay(len(schedule) + 1) is None
    # Retry-After wins when it is longer, is capped at a day, and never shortens the schedule.
    assert retry.next_delay(1, retry_after_s=3600, rng=rng) == 3600
    assert retry.next_delay(1, retry_after_s=10**9, rng=rng) == 24 * 3600
    assert (retry.next_delay(4, retry_after_s=1, rng=rng) or 0) >= 7200


def test_circuit_breaker_states() -> None:
    now = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    assert circuit_state(4, None, now, 5) == Circuit.CLOSED
    assert circuit_state(5, now + dt.timedelta(seconds=1), now, 5) == Circuit.OPEN
    assert circuit_state(5, now, now, 5) == Circuit.HALF_OPEN
    assert circuit_state(9, now - dt.timedelta(seconds=1), now, 5) == Circuit.HALF_OPEN


def _catalogue() -> Catalogue:
    s = Settings()
    return Catalogue.load(s.domain.categories_file, s.domain.assignees_file)


def test_provisioning_plan_grants_only_the_own_queue_and_the_status_key() -> None:
    plan = {a.assignee: a for a in provisioning_plan(_catalogue(), "contractor-")}
    assert set(plan) == {"waste_company", "grid_operator", "road_firm"}  # every contractor, no department
    grid = plan["grid_operator"]
    assert grid.user == "contractor-grid_operator"
    assert grid.permissions.configure == ""
    assert grid.permissions.read == r"^workorders\.grid_operator$"
    assert grid.permissions.write == r"^city\.events$"
    assert grid.topic.exchange == "city.events"
    assert grid.topic.write == r"^workorder\.status$"


def test_the_email_is_dutch_readable_and_carries_only_the_work_order() -> None:
    example = WorkOrderIssued.model_json_schema()["examples"][0]
    order = WorkOrderIssued.model_validate(example)
    road_firm = _catalogue().assignee("road_firm")
    now = dt.datetime(2021, 3, 15, 9, 46, tzinfo=dt.UTC)
    message = compose_work_order_email(
        order, road_firm, Envelope("werkbonnen@stad.example.be", "x@example.be", None, "msg_1", now)
    )
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    plain = text.get_content()
    assert order.work_order_id in message["Subject"]
    assert "Beste Wegenbouwbedrijf" in plain
    assert "dinsdag 16 maart 2021" in plain  # the due date, in Dutch
    assert "Stapelstraat 12A, 3800 Brustem" in plain
    assert "Hoe antwoorden?" in plain
    assert f"vermeld de referentie {order.work_order_id}" in plain
    assert "Melder" not in plain  # the example has no reporter
    assert "<table>" in html.get_content()
    assert message["Message-ID"] == "<msg_1@stad.example.be>"

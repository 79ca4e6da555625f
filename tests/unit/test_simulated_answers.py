"""Simulated assignees' answers (pure): planned from the issued order in event time, deterministic, realistic shares;
and when an open order reminds its assignee."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from consumers.contractors.rules import reminder_channel, reminder_due
from consumers.domain.catalogue import Catalogue
from contracts import WorkOrderIssued, WorkOrderStatus
from hub.settings import Settings
from hub.simulator.answers import AnswerProfile, late_share_of, plan_answer

pytestmark = pytest.mark.unit

TZ = ZoneInfo("Europe/Brussels")
S = WorkOrderStatus
# The contract's own example order (its JSON schema is built once: building it costs 28 ms).
EXAMPLE = WorkOrderIssued.model_json_schema()["examples"][0]


def order(n: int, *, assignee: str = "road_firm", sla: int = 5) -> WorkOrderIssued:
    example = dict(EXAMPLE)
    filed = dt.datetime(2021, 3, 15, 9, 0, tzinfo=TZ) + dt.timedelta(hours=n % 50)
    example |= {
        "work_order_id": f"wo-{n:032x}",
        "assignee": assignee,
        "report_filed_at": filed.isoformat(),
        # Routed today: the answers follow the filing (event time), never the routing's wall clock.
        "issued_at": "2026-12-03T15:00:00+00:00",
        "due_date": (filed.date() + dt.timedelta(days=sla + 2)).isoformat(),
        "sla_working_days": sla,
    }
    return WorkOrderIssued.model_validate(example)


def test_answers_are_in_event_time_ordered_and_deterministic() -> None:
    for n in range(300):
        o = order(n)
        steps = plan_answer(o, ack_hours=24, tz=TZ, seed=7)
        assert steps == plan_answer(o, ack_hours=24, tz=TZ, seed=7)
        if not steps:
            continue
        assert o.report_filed_at is not None
        first = steps[0]
        assert first.status in (S.ACCEPTED, S.REJECTED)
        # Acknowledged within the assignee's acknowledgement time, after the filing.
        assert o.report_filed_at < first.at <= o.report_filed_at + dt.timedelta(hours=24)
        assert [s.at for s in steps] == sorted(s.at for s in steps)
        assert all(s.at.year == 2021 for s in steps)
        if first.status == S.REJECTED:
            assert steps == [first]
            assert first.reason
        else:
            assert steps[-1].status == S.DONE
            for s in steps:
                if s.status == S.PLANNED:
                    assert s.planned_for == steps[-1].at.astimezone(TZ).date()


def test_most_are_done_on_time_some_late_a_few_rejected_or_forgotten() -> None:
    outcome: Counter[str] = Counter()
    for n in range(4000):
        o = order(n, assignee="waste_company")
        steps = plan_answer(o, ack_hours=8, tz=TZ, seed=2021)
        if not steps:
            outcome["forgotten"] += 1
        elif steps[-1].status == S.REJECTED:
            outcome["rejected"] += 1
        elif steps[-1].at.astimezone(TZ).date() <= o.due_date:
            outcome["on time"] += 1
        else:
            outcome["late"] += 1
    share = {k: v / 4000 for k, v in outcome.items()}
    late = late_share_of("waste_company", AnswerProfile(), 2021)
    assert 0.06 <= late <= 0.3
    assert abs(share["late"] / (share["late"] + share["on time"]) - late) < 0.03
    assert 0.02 < share["rejected"] < 0.06
    assert 0.005 < share["forgotten"] < 0.03
    # The assignees differ, as real ones do.
    assert len({round(late_share_of(code, AnswerProfile(), 2021), 3) for code in ("a", "b", "c")}) == 3


def test_a_reminder_on_the_due_date_from_the_hour_and_only_for_orders_issued_before_it() -> None:
    due = dt.date(2026, 12, 3)
    issued = dt.date(2026, 11, 30)
    at = lambda day, hour: dt.datetime.combine(day, dt.time(hour), tzinfo=TZ)  # noqa: E731
    assert not reminder_due(due, issued, at(dt.date(2026, 12, 2), 23), hour=8)
    assert not reminder_due(due, issued, at(due, 7), hour=8)
    assert reminder_due(due, issued, at(due, 8), hour=8)
    assert reminder_due(due, issued, at(dt.date(2026, 12, 5), 1), hour=8)  # the hub was down on the day
    # Issued on or after its due date (a replayed year, a same-day SLA): it knew its date, no reminder.
    assert not reminder_due(due, due, at(due, 12), hour=8)
    assert not reminder_due(dt.date(2021, 3, 17), dt.date(2026, 12, 3), at(due, 12), hour=8)


def test_reminders_go_by_the_assignees_channel_or_its_address() -> None:
    settings = Settings()
    catalogue = Catalogue.load(settings.domain.categories_file, settings.domain.assignees_file)
    channels = {code: reminder_channel(a) for code, a in catalogue.assignees.items()}
    assert channels["waste_company"] == "webhook"
    assert channels["road_firm"] == "email"
    assert channels["technische_dienst"] == "email"  # a queue department, reminded at its address
    assert channels["grid_operator"] == "webhook"

"""The one retry schedule of the two scheduled senders: a row's columns after an attempt."""

from __future__ import annotations

import datetime as dt
import random

from infra.sending import DELIVERED, EXHAUSTED, PENDING, MailResult, RetrySchedule
from infra.webhooks import AttemptResult

AT = dt.datetime(2026, 12, 4, 18, tzinfo=dt.UTC)
RETRY = RetrySchedule((10.0, 60.0), jitter=0.0, max_retry_after_s=600.0)


def test_an_accepted_attempt_delivers_the_row() -> None:
    values = RETRY.attempt_values(0, MailResult(True), AT)
    assert values == {
        "attempts": 1,
        "last_attempt_at": AT,
        "last_status": None,  # an SMTP acceptance is no HTTP status
        "state": DELIVERED,
        "delivered_at": AT,
        "last_error": None,
        "next_attempt_at": AT,
    }


def test_a_failed_attempt_is_due_again_after_the_schedule_then_exhausted() -> None:
    failed = AttemptResult(503, "HTTP 503", retry_after_s=None)
    first = RETRY.attempt_values(0, failed, AT, rng=random.Random(1))
    assert (first["state"], first["attempts"], first["last_status"], first["last_error"]) == (
        PENDING,
        1,
        503,
        "HTTP 503",
    )
    assert first["next_attempt_at"] == AT + dt.timedelta(seconds=10)
    later = RETRY.attempt_values(1, AttemptResult(429, "HTTP 429", retry_after_s=300.0), AT)
    assert later["next_attempt_at"] == AT + dt.timedelta(seconds=300)  # Retry-After is longer than 60 s
    last = RETRY.attempt_values(2, failed, AT)
    assert (last["state"], last["attempts"]) == (EXHAUSTED, 3)


def test_a_held_failure_keeps_the_row_pending_and_due_without_using_its_schedule() -> None:
    gone = AttemptResult(410, "HTTP 410")
    values = RETRY.attempt_values(5, gone, AT, hold=True)  # past the schedule's end, yet not exhausted
    assert (values["state"], values["attempts"], values["next_attempt_at"]) == (PENDING, 6, AT)

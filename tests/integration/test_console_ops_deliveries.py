"""The operations page of the scheduled sends, in-process over a real database: the contractors' deliveries and the
alert notifications each in their table (one builder), every cell labelled for a phone, and an exhausted row sent
again from its replay button."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from consumers.console.templates import Column
from consumers.contractors.tables import Delivery
from consumers.notifier.tables import AlertNotification
from infra.db import create_engine, create_session_factory
from infra.sending import EXHAUSTED, PENDING
from tests.console_support import add_user, csrf_of, sign_in
from tests.integration.test_console_access import serving

pytestmark = pytest.mark.integration

NOW = dt.datetime(2021, 3, 15, 9, tzinfo=dt.UTC)


def scheduled(state: str, attempts: int, error: str | None) -> dict[str, object]:
    return {"channel": "webhook", "body": b"{}", "state": state, "attempts": attempts, "next_attempt_at": NOW,
            "created_at": NOW, "last_status": 503 if error else None, "last_error": error}  # fmt: skip


async def seed(database_url: str) -> tuple[int, int]:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            gone = Delivery(delivery_id="msg_ops_1", work_order_id="WO-OPS-1", assignee="road_firm",
                            **scheduled(EXHAUSTED, 8, "HTTP 503"))  # fmt: skip
            waiting = Delivery(delivery_id="msg_ops_2", work_order_id="WO-OPS-2", assignee="road_firm",
                               **scheduled(PENDING, 1, None))  # fmt: skip
            alert = AlertNotification(notification_id="ntf_ops_1", alert_id="inc-ops/spike.detected",
                                      routing_key="spike.detected", **scheduled(EXHAUSTED, 5, "timeout"))  # fmt: skip
            session.add_all([gone, waiting, alert])
        return gone.id, alert.id
    finally:
        await engine.dispose()


def table(html: str, name: str) -> str:
    found = re.search(rf'<table class="responsive" data-table="{name}">.*?</table>', html, re.S)
    assert found is not None, f"no table {name}"
    return found.group(0)


async def test_deliveries_and_alert_notifications_in_one_table_shape_and_replayed_from_the_page(
    postgres_url: str,
) -> None:
    delivery, notification = await seed(postgres_url)
    await add_user(postgres_url, "olaf", ("ops",))
    async with serving(postgres_url) as client:
        await sign_in(client, "olaf")
        page = await client.get("/console/ops/deliveries")
        assert page.status_code == 200, page.text[:500]
        exhausted, pending = table(page.text, "deliveries-1"), table(page.text, "deliveries-2")
        alerts = table(page.text, "notifications-exhausted")
        assert f'<tr data-delivery="{delivery}" data-state="exhausted">' in exhausted
        assert "<code>WO-OPS-1</code>" in exhausted
        assert "HTTP 503" in exhausted
        assert 'data-action="replay-delivery"' in exhausted
        assert "WO-OPS-2" in pending
        assert 'data-action="replay-delivery"' not in pending  # only an exhausted row is sent again by hand
        assert f'<tr data-notification="{notification}" data-state="exhausted">' in alerts
        assert "<code>inc-ops/spike.detected</code>" in alerts
        # The same columns of a scheduled row in both, each cell with its heading for the phone layout.
        for rows in (exhausted, alerts):
            headings = re.findall(r'<th scope="col"[^>]*>([^<]*)</th>', rows)
            assert headings[0] == "id"
            assert headings[-5:] == ["Kanaal", "Pogingen", "Volgende poging", "Laatste antwoord", ""], headings
            assert 'data-label="Pogingen" class="num">8<' in rows or 'data-label="Pogingen" class="num">5<' in rows
        replayed = await client.post(
            "/console/ops/deliveries/replay",
            data={"csrf": csrf_of(page.text), "kind": "notification", "id": str(notification)},
        )
        assert replayed.status_code == 303, replayed.text[:300]
    engine = create_engine(postgres_url)
    try:
        async with create_session_factory(engine)() as session:
            row = (
                await session.execute(select(AlertNotification).where(AlertNotification.id == notification))
            ).scalar_one()
    finally:
        await engine.dispose()
    assert (row.state, row.attempts) == (PENDING, 0)


def test_a_column_takes_a_field_of_a_mapping_or_an_object_or_a_macro() -> None:
    assert Column("n", "n").value({"n": 3}) == 3
    assert Column("n", "attempts", num=True).value(Delivery(attempts=2)) == 2
    assert Column("x", lambda row: f"<{row['n']}>").value({"n": 1}) == "<1>"
    assert Column("n", "n", num=True, css=lambda row: "up").classes({}) == "num up"

"""The operations page of the scheduled sends, in-process over a real database: the contractors' deliveries and the
alert notifications each in their table (one builder), every cell labelled for a phone, and an exhausted row sent
again from its replay button."""

from __future__ import annotations

import re

import pytest

from consumers.notifier.tables import AlertNotification
from infra.clock import utcnow
from infra.db import create_engine, create_session_factory
from infra.sending import PENDING
from tests.console_support import add_user, csrf_of, sign_in
from tests.deliveries_support import plant_deliveries
from tests.integration.test_console_access import serving

pytestmark = pytest.mark.integration


def table(html: str, name: str) -> str:
    found = re.search(rf'<table class="responsive" data-table="{name}">.*?</table>', html, re.S)
    assert found is not None, f"no table {name}"
    return found.group(0)


async def test_deliveries_and_alert_notifications_in_one_table_shape_and_replayed_from_the_page(
    postgres_url: str,
) -> None:
    planted = await plant_deliveries(postgres_url, utcnow())
    await add_user(postgres_url, "olaf", ("ops",))
    async with serving(postgres_url) as client:
        await sign_in(client, "olaf")
        page = await client.get("/console/ops/deliveries")
        assert page.status_code == 200, page.text[:500]
        exhausted, pending = table(page.text, "deliveries-1"), table(page.text, "deliveries-2")
        alerts = table(page.text, "notifications-exhausted")
        (gone, *_), (notification,) = planted.exhausted, planted.notifications_exhausted
        assert f'<tr data-delivery="{gone}" data-state="exhausted">' in exhausted
        assert "410 Gone: endpoint disabled" in exhausted
        assert 'data-action="replay-delivery"' in exhausted
        assert 'data-action="replay-delivery"' not in pending  # only an exhausted row is sent again by hand
        assert f'<tr data-notification="{notification}" data-state="exhausted">' in alerts
        assert "HTTP 500" in alerts  # the sender's own words (infra/chat.py), not "500 HTTP 500"
        assert "500 HTTP 500" not in alerts
        # The same columns of a scheduled row in both, each cell with its heading for the phone layout.
        for rows, about in ((exhausted, ["Uitvoerder", "Werkorder"]), (alerts, ["Melding"])):
            headings = re.findall(r'<th scope="col"[^>]*>([^<]*)</th>', rows)
            assert headings == ["id", *about, "Kanaal", "Pogingen", "Volgende poging", "Laatste antwoord", ""]
            cells = re.findall(r'<td data-label="([^"]*)"', rows)
            assert cells[: len(headings)] == headings
        assert '<td data-label="Pogingen" class="num">4</td>' in alerts
        replayed = await client.post(
            "/console/ops/deliveries/replay",
            data={"csrf": csrf_of(page.text), "kind": "notification", "id": str(notification)},
        )
        assert replayed.status_code == 303, replayed.text[:300]
    engine = create_engine(postgres_url)
    try:
        async with create_session_factory(engine)() as session:
            row = await session.get(AlertNotification, notification)
    finally:
        await engine.dispose()
    assert row is not None
    assert (row.state, row.attempts) == (PENDING, 0)

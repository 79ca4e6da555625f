"""Operations' scheduled-deliveries page, in-process over PostgreSQL: each endpoint's state in the user's language
(a circuit open until when, disabled since when and why, not configured for want of which setting), the pending
and exhausted deliveries and alert notifications, and *Inschakelen* taking an endpoint back, recorded."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from consumers.console.tables import ConsoleAudit
from consumers.contractors.endpoints import when
from consumers.contractors.tables import DeliveryEndpoint
from hub.http import create_http_app
from hub.settings import Settings
from infra.clock import utcnow
from infra.db import create_engine
from tests.console_support import add_user, csrf_of, sign_in
from tests.deliveries_support import WEBHOOK_SECRETS, plant_deliveries

pytestmark = pytest.mark.integration

CITY = ZoneInfo("Europe/Brussels")  # hub/config/calendar.yaml: the page's times are the city's


@contextlib.asynccontextmanager
async def serving(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    # Webhooks configured, no SMTP server: the e-mail endpoints are "not configured".
    settings = Settings(
        database_url=database_url,
        amqp_url="amqp://guest:guest@127.0.0.1:1/",
        contractors={"webhook_secrets": json.loads(WEBHOOK_SECRETS)},
    )
    app = create_http_app(settings)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 4711))
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
        yield c


def endpoint_cells(page: str) -> dict[str, tuple[str, str, bool]]:
    """assignee -> (kind, the state cell's text, whether it has an enable button)."""
    rows = re.findall(r'<tr data-assignee="([^"]+)">(.*?)</tr>', page, flags=re.S)
    out = {}
    for assignee, row in rows:
        cell = re.search(r'data-kind="([^"]+)">(.*?)</td>', row, flags=re.S)
        assert cell is not None, row
        text = " ".join(re.sub(r"<[^>]+>", " ", cell.group(2)).split())
        out[assignee] = (cell.group(1), text, 'data-action="enable"' in row)
    return out


async def test_the_endpoints_states_are_in_the_users_language_and_enable_takes_one_back(postgres_url: str) -> None:
    planted = await plant_deliveries(postgres_url, utcnow())
    await add_user(postgres_url, "olga", ("ops",))
    async with serving(postgres_url) as client:
        await sign_in(client, "olga")
        page = (await client.get("/console/ops/deliveries")).text
        cells = endpoint_cells(page)
        assert cells["waste_company"] == (
            "circuit_open",
            f"circuit open: leveringen gepauzeerd tot {when(planted.open_until, CITY)} · mislukte pogingen na elkaar: 6",
            True,
        )
        assert cells["grid_operator"] == (
            "disabled",
            f"uitgeschakeld sinds {when(planted.disabled_at, CITY)} (410 Gone) · mislukte pogingen na elkaar: 1",
            True,
        )
        for mail in ("road_firm", "burgerzaken"):
            assert cells[mail] == ("not_configured", "niet ingesteld geen HUB_SMTP_HOST; de leveringen wachten", False)
        # None of the command's English words.
        for english in ("DISABLED", "OPEN until", "NOT CONFIGURED", "consecutive failures", "half-open"):
            assert english not in page, english
        # The planted deliveries and notifications, each in its table.
        for table, ids in (
            ("deliveries-1", planted.exhausted),
            ("deliveries-2", planted.pending),
            ("notifications-exhausted", planted.notifications_exhausted),
            ("notifications-pending", planted.notifications_pending),
        ):
            found = re.search(rf'data-table="{table}">(.*?)</table>', page, flags=re.S)
            assert found is not None, table
            assert sorted(
                int(i) for i in re.findall(r'data-(?:delivery|notification)="(\d+)"', found.group(1))
            ) == sorted(ids)

        # In English for a user who chose it.
        form = await client.get("/console/language")
        await client.post("/console/language", data={"csrf": csrf_of(form.text), "language": "en"})
        english = endpoint_cells((await client.get("/console/ops/deliveries")).text)
        assert english["waste_company"][1].startswith("circuit open: deliveries paused until ")
        assert english["grid_operator"][1].startswith("disabled since ")
        assert english["road_firm"][1] == "not configured no HUB_SMTP_HOST; deliveries wait"

        # Enable: the circuit is closed again, the page says so, the audit trail has it.
        token = csrf_of(page)
        answer = await client.post("/console/ops/endpoints/waste_company/enable", data={"csrf": token})
        assert answer.status_code == 303
        after = endpoint_cells((await client.get("/console/ops/deliveries")).text)
        assert after["waste_company"] == ("enabled", "enabled", False)
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as conn:
            endpoint = select(DeliveryEndpoint.consecutive_failures, DeliveryEndpoint.open_until)
            assert (await conn.execute(endpoint.where(DeliveryEndpoint.assignee == "waste_company"))).one() == (0, None)
            audit = select(ConsoleAudit.actor, ConsoleAudit.target).where(ConsoleAudit.action == "endpoint.enable")
            assert [tuple(r) for r in await conn.execute(audit)] == [("olga", "waste_company")]
    finally:
        await engine.dispose()

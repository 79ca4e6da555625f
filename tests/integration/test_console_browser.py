"""The console in Debian's Chromium (Playwright), with `hub serve` as its own process on the real broker and
PostgreSQL: signing in and a wrong password, a role refused a page, and a dead letter replayed from the operations
page is applied once (its work order exists once, even when the same message comes again)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from consumers.console.tables import ConsoleAudit
from consumers.router.tables import WorkOrder
from hub.bootstrap import build_hub
from hub.settings import Settings
from infra.db import create_engine
from infra.deadletters import DeadLetterQueue
from tests.console_support import PASSWORD, add_user, sign_in_page
from tests.console_world import free_port
from tests.integration.test_dashboard_browser import CHROMIUM, Dashboard, browser
from tests.integration.test_dead_letters import _dead_letter, _until
from tests.support import ROOT, CitySystem, make_report

pytestmark = pytest.mark.integration


@pytest.fixture
def chromium() -> str:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is needed for the console test and {CHROMIUM} does not exist (apt-get install chromium)")
    return CHROMIUM


@contextlib.asynccontextmanager
async def serve(amqp_url: str, database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    port = free_port()
    log_path = tmp_path / "serve.log"
    env = {**os.environ, "HUB_DATABASE_URL": database_url, "HUB_AMQP_URL": amqp_url, "HUB_LOG_LEVEL": "WARNING"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "hub.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(base_url=base, timeout=1) as client:
            while True:
                assert proc.poll() is None, log_path.read_text()
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/health/live")).status_code == 200:
                        break
                assert time.monotonic() < deadline, log_path.read_text()
                await asyncio.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def count(database_url: str, statement: Any) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(statement)).scalar_one())
    finally:
        await engine.dispose()


async def test_sign_in_a_wrong_password_and_a_refused_role(
    chromium: str, amqp_url: str, postgres_url: str, tmp_path: Path
) -> None:
    await add_user(postgres_url, "an", ("comms",))
    async with serve(amqp_url, postgres_url, tmp_path) as base, browser(chromium, tmp_path) as page:
        board = Dashboard(page, base)
        await page.set_viewport_size({"width": 1366, "height": 900})
        # Not signed in: the dashboard sends to the login page, which keeps where to go back to.
        await page.goto(f"{base}/dashboard/")
        assert "/console/login?next=%2Fdashboard%2F" in page.url
        assert await page.locator("html").get_attribute("lang") == "nl"
        assert await page.locator("h1").inner_text() == "Aanmelden"
        # A wrong password: the same page, one sentence, no session.
        await page.fill('input[name="name"]', "an")
        await page.fill('input[name="password"]', "niet het juiste wachtwoord")
        async with page.expect_navigation():
            await page.click('button[type="submit"]')
        assert await page.locator('[data-error="login.wrong"]').count() == 1
        assert not [c for c in await page.context.cookies() if c["name"] == "hub_session"]
        # The right one: back to the page asked for, which is management's: refused to the communication team.
        await page.fill('input[name="password"]', PASSWORD)
        async with page.expect_navigation():
            await page.click('button[type="submit"]')
        assert page.url.endswith("/dashboard/")
        assert await page.locator('[data-refused="management"]').count() == 1
        assert "Geen toegang" in await page.locator("h1").inner_text()
        session = next(c for c in await page.context.cookies() if c["name"] == "hub_session")
        assert session["httpOnly"]
        assert session["sameSite"] == "Lax"
        # Operations is refused too; the start page shows only the communication team's section.
        response = await page.goto(f"{base}/console/ops/")
        assert response is not None
        assert response.status == 403
        await page.goto(f"{base}/console/")
        assert await page.locator("nav.sections a").evaluate_all("els => els.map(e => e.dataset.section)") == ["comms"]
        # Phone width: nothing wider than the screen.
        await page.set_viewport_size({"width": 375, "height": 740})
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375
        # Signing out ends the session on the server.
        async with page.expect_navigation():
            await page.click("form[action='/console/logout'] button")
        assert "/console/login" in page.url
        await page.goto(f"{base}/console/")
        assert "/console/login" in page.url
    # The refusals above are answers (401, 403; and the browser's own favicon 404); anything else the browser said,
    # an uncaught error or a Content-Security-Policy violation, fails.
    said = [p for p in board.problems if not p.startswith("HTTP ") and "Failed to load resource" not in p]
    assert not said, said


async def test_a_dead_letter_replayed_from_the_operations_page_is_applied_once(
    chromium: str, clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    await add_user(postgres_url, "olaf", ("ops",))
    hub = build_hub(Settings(amqp_url=clean_broker, database_url=postgres_url), consumers=["router"])
    await hub.start()
    run = uuid.uuid4().hex[:8]
    report = make_report(random.Random(7), 1, run=run, category="lighting.defect")
    assert report.reporter is not None
    assert report.reporter.name
    dlq = DeadLetterQueue(clean_broker, "router")
    try:
        async with CitySystem(clean_broker) as city:
            await _dead_letter(city, "router", report, f"late-{run}")

        async def in_dlq() -> bool:
            return await dlq.count() == 1

        await _until(in_dlq)
        async with serve(clean_broker, postgres_url, tmp_path) as base, browser(chromium, tmp_path) as page:
            await sign_in_page(page, base, "olaf")
            await page.goto(f"{base}/console/ops/")
            assert await page.locator('tr[data-consumer="router"]').get_attribute("data-count") == "1"
            await page.goto(f"{base}/console/ops/dlq/router")
            row = page.locator(f'tr[data-message-id="late-{run}"]')
            assert await row.count() == 1
            assert "TimeoutError: database" in await row.inner_text()
            masked = await row.locator('pre[data-body="masked"]').text_content() or ""
            assert report.report_id in masked
            assert report.reporter.name not in masked
            # In full only on asking (recorded), in Dutch: the reason, the headers, the body with the reporter.
            await row.locator("details summary").last.click()
            async with page.expect_navigation():
                await row.get_by_text("Toon volledig").click()
            assert await page.locator("h1").inner_text() == "Bericht in de dead-letter-wachtrij van router"
            assert await page.locator(f'code[data-message-id="late-{run}"]').count() == 1
            assert report.reporter.name in (await page.locator('pre[data-body="full"]').text_content() or "")
            assert "Reden: TimeoutError" in await page.locator("main").inner_text()
            await page.goto(f"{base}/console/ops/dlq/router")
            async with page.expect_navigation():
                await row.locator('button[data-action="replay"]').click()
            assert await page.locator('[data-done="replayed-1"]').count() == 1

            async def routed() -> bool:
                return await count(postgres_url, select(func.count()).select_from(WorkOrder)) >= 1

            await _until(routed)
            await page.reload()
            assert await page.locator('[data-empty="dlq"]').count() == 1
        # The same message again (a second replay, a resend): deduplication applies, one work order.
        async with CitySystem(clean_broker) as city:
            await city.publish_report(report, event_id=f"late-{run}")
        await asyncio.sleep(1.0)
        orders = await count(postgres_url, select(func.count()).select_from(WorkOrder))
        assert orders == 1
        audited = await count(
            postgres_url,
            select(func.count()).where(ConsoleAudit.action == "dlq.replay", ConsoleAudit.target == f"late-{run}"),
        )
        assert audited == 1
        viewed = await count(
            postgres_url,
            select(func.count()).where(ConsoleAudit.action == "dlq.view-body", ConsoleAudit.target == f"late-{run}"),
        )
        assert viewed == 1
    finally:
        await hub.stop()

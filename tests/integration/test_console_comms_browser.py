"""The communication team's and the agents' console pages in Debian's Chromium, end to end on the real broker and
PostgreSQL: the router, spikes and statistics consumers run in this process, `hub serve` in its own, and a city
system publishes calls and reports with a plain AMQP client.

One world and one browser for the module (each test its own district, so they do not meet): "Posted" puts a
`spike.broadcast` on the broker and the incident's timeline then marks it; a silence made on the page holds back
the next spike of its key; an agent finds a work order by its street, with its status and due date; an action
without the session's CSRF token, or by a role that is not the team's, changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aio_pika
import httpx
import pytest
from sqlalchemy import select

from consumers.console.tables import ConsoleAudit
from consumers.router.tables import WorkOrder
from consumers.spikes.tables import AlertSilence
from consumers.stats.tables import StatIncident
from contracts import IncidentBroadcast
from infra.db import create_engine
from infra.db.engine import upgrade_schema
from infra.topology import CITY_EVENTS
from tests.conftest import _pg_admin
from tests.console_support import csrf_of, sign_in
from tests.console_users import login, make_users
from tests.console_world import CHROMIUM, CHROMIUM_ARGS, World, burst, console_world, wait_alert
from tests.support import until

pytestmark = pytest.mark.e2e

BRUSTEM, VELM, ZEPPEREN = "Brustem", "Velm", "Zepperen"


@pytest.fixture(scope="module")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is needed for the console test and {CHROMIUM} does not exist. Install Debian's: "
            "apt-get update && apt-get install -y chromium, or set HUB_TEST_CHROMIUM. Tests never skip a missing browser.",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console")


@pytest.fixture(scope="module")
async def module_database(postgres_admin_url: str) -> AsyncIterator[str]:
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    await _pg_admin(postgres_admin_url, f'CREATE DATABASE "{name}"')
    url = f"{postgres_admin_url.rpartition('/')[0]}/{name}"
    engine = create_engine(url)
    await upgrade_schema(engine)
    await engine.dispose()
    yield url
    await _pg_admin(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
async def world(amqp_url: str, module_database: str, module_tmp: Path) -> AsyncIterator[World]:
    async with console_world(amqp_url, module_database, module_tmp) as w:
        await make_users(w, module_tmp)
        yield w


@pytest.fixture(scope="module")
async def browser(chromium: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield b
        await b.close()


@contextlib.asynccontextmanager
async def page_as(browser: Any, world: World, role: str) -> AsyncIterator[Any]:
    """A fresh context (no cookies of another test), logged in with `role`; any page error fails the test."""
    context = await browser.new_context(viewport={"width": 1366, "height": 900}, timezone_id="Europe/Brussels")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        await login(page, world.base, role)
        yield page
        assert not [e for e in errors if "403" not in e and "404" not in e], errors
    finally:
        await context.close()


@contextlib.asynccontextmanager
async def probe(amqp_url: str, routing_key: str) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """A queue of the test's own on `city.events`, as any of the city's tools may bind one."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(CITY_EVENTS.name, type="topic", durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key)
        yield queue


async def test_posted_on_the_page_puts_a_broadcast_on_the_broker_and_the_timeline_marks_it(
    world: World, browser: Any
) -> None:
    await burst(world.amqp_url, district=BRUSTEM, streets=("Ordingenstraat", "Kerkstraat"), n=9)
    alert = await wait_alert(world, BRUSTEM, "detected")
    incident = alert.incident_id
    async with probe(world.amqp_url, IncidentBroadcast.routing_key) as queue, page_as(browser, world, "comms") as page:
        await page.goto(f"{world.base}/console/comms/")
        card = page.locator(f"article[data-incident='{incident}']")
        await card.wait_for()
        assert "Afval niet opgehaald in Brustem" in await card.inner_text()
        await card.get_by_role("link", name="Open").click()
        await page.wait_for_url(f"**/console/comms/incidents/{incident}")
        assert "Ordingenstraat" in await page.inner_text("main")
        for lang in ("nl", "en", "fr"):
            assert (await page.input_value(f"#draft-{lang}")).strip()
        assert "restafval" in await page.input_value("#draft-nl")
        # The team's own French text, kept for the incident.
        await page.fill("#draft-fr", "La collecte est reportée à demain.")
        await page.locator("form[data-lang=fr] button[type=submit]").click()
        await page.wait_for_url("**ok=draft")
        assert await page.input_value("#draft-fr") == "La collecte est reportée à demain."
        assert "aangepast door" in await page.inner_text("form[data-lang=fr]")

        await page.check("input[data-channel=facebook]")
        await page.click("button[name=post]")
        await page.wait_for_url("**ok=posted**")
        assert "website, facebook" in await page.inner_text("[data-flash=posted]")

        message = await queue.get(timeout=30, fail=True)
        assert message is not None
        await message.ack()
        body = json.loads(message.body)
        assert body["incident_id"] == incident
        assert body["channels"] == ["website", "facebook"]
        assert message.message_id is not None
        assert message.message_id.startswith(f"broadcast/{incident}/")

        async def marked() -> bool:
            async with world.hub.sessions() as session:
                row = await session.get(StatIncident, incident)
                return row is not None and row.broadcast_at is not None

        await until(marked, "the statistics mark the notice", timeout=30)
        await page.reload()
        mark = page.locator("svg.timeline [data-mark=broadcast]")
        assert await mark.count() == 1
        assert await page.locator("svg.timeline [data-mark=alert]").count() == 1
        bars = await page.locator("svg.timeline g.step").evaluate_all(
            "els => els.map(e => Number(e.dataset.calls) + Number(e.dataset.reports))"
        )
        assert sum(bars) == 18  # the 9 calls and 9 reports, all inside the chart's span
        assert await page.locator("[data-notice-saved]").count() == 1
        assert await page.locator("[data-posted-at]").count() == 1
        # Still live: its totals come with `spike.resolved`, the history shows the counts so far (the live page's).
        totals = await page.locator(".figures p").nth(1).inner_text()
        await page.goto(f"{world.base}/console/comms/history")
        contacts = page.locator(f"tr[data-incident='{incident}'] [data-so-far]")
        calls, reports = (int(n) for n in totals.split() if n.isdigit())
        assert await contacts.inner_text() == f"{calls} / {reports} tot nu toe"
        # The live counts may still trail the timeline's by a message: they are only known to be there.
        assert calls > 0
        assert reports > 0
    assert await audited(world, incident) == [
        ("comms-user", "incident.draft", {"lang": "fr", "chars": len("La collecte est reportée à demain.")}),
        ("comms-user", "incident.posted", {"channels": ["website", "facebook"]}),
    ]


async def audited(world: World, target: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The audit trail of a target: who did what (the detail's stable part: no times, no event ids)."""
    async with world.hub.sessions() as session:
        rows = (
            await session.execute(select(ConsoleAudit).where(ConsoleAudit.target == target).order_by(ConsoleAudit.id))
        ).scalars()
        keep = ("lang", "chars", "channels", "scope")
        return [(r.actor, r.action, {k: v for k, v in (r.detail or {}).items() if k in keep}) for r in rows]


async def test_a_silence_made_on_the_page_holds_back_the_next_spike_of_its_key(world: World, browser: Any) -> None:
    key = f"lighting.defect|district:{VELM}"
    async with page_as(browser, world, "comms") as page:
        await page.goto(f"{world.base}/console/comms/silences")
        await page.fill("input[name=key]", key)
        await page.fill("input[name=reason]", "De netbeheerder werkt aan de cabine")
        await page.select_option("select[name=duration]", "2h")
        await page.click("button[value=preview]")
        preview = page.locator("[data-preview]")
        await preview.wait_for()
        assert "Defecte straatverlichting, deelgemeente Velm" in await preview.inner_text()  # not the CLI's English
        assert await page.locator("[data-match]").count() == 0
        await page.click("button[value=create]")
        await page.wait_for_url("**ok=created**")
        async with world.hub.sessions() as session:
            (silence,) = (
                (await session.execute(select(AlertSilence).where(AlertSilence.district == VELM))).scalars().all()
            )
        assert (silence.category, silence.created_by) == ("lighting.defect", "comms-user")
        assert await page.locator(f"tr[data-silence='{silence.silence_id}']").count() == 1
        created = await page.inner_text("[data-flash=created]")
        assert created.startswith("Stilgezet tot ")
        assert ": Defecte straatverlichting, deelgemeente Velm." in created

        await burst(
            world.amqp_url, district=VELM, streets=("Velmerlaan",), n=8, category="lighting.defect", fraction=None
        )
        held = await wait_alert(world, VELM, "suppressed-fire")
        assert silence.silence_id in (held.reason or "")
        assert [a.kind for a in await world.alerts(VELM) if a.state == "sent"] == []
        await page.goto(f"{world.base}/console/comms/")
        card = page.locator(f"article[data-incident='{held.incident_id}']")
        assert silence.silence_id in await card.inner_text()
        # The incident's page says why, in Dutch (the spikes consumer's reason is English for `hub alerts list`).
        await page.goto(f"{world.base}/console/comms/incidents/{quote(held.incident_id, safe='')}")
        said = await page.locator("li[data-kind='suppressed-fire']").first.inner_text()
        assert f"tegengehouden: stilgezet ({silence.silence_id}): De netbeheerder werkt aan de cabine" in said, said

        await page.goto(f"{world.base}/console/comms/silences")
        await page.locator(f"tr[data-silence='{silence.silence_id}'] button").click()
        await page.wait_for_url("**ok=expired**")
        assert await audited(world, key) == [
            ("comms-user", "silence.create", {"scope": "lighting.defect, district Velm"})
        ]
        assert await audited(world, silence.silence_id) == [("comms-user", "silence.expire", {})]
        assert await page.locator(f"tr[data-silence='{silence.silence_id}']").count() == 0
        async with world.hub.sessions() as session:
            ended = await session.get(AlertSilence, silence.silence_id)
        assert ended is not None
        assert ended.cancelled_at is not None


async def test_an_agent_finds_a_work_order_by_its_street_with_status_and_due_date(world: World, browser: Any) -> None:
    (report_id,) = await burst(world.amqp_url, district=ZEPPEREN, streets=("Kasteelstraat",), n=1, minutes=5)
    orders: list[WorkOrder] = []

    async def routed() -> bool:
        async with world.hub.sessions() as session:
            orders[:] = (await session.execute(select(WorkOrder).where(WorkOrder.report_id == report_id))).scalars()
        return bool(orders)

    await until(routed, "the report routed", timeout=30)
    (order,) = orders
    async with page_as(browser, world, "agent") as page:
        await page.goto(f"{world.base}/console/agent/")
        await page.fill("input[name=q]", "kasteel")
        await page.click("form.search button[type=submit]")
        await page.wait_for_url("**/console/agent/lookup?q=kasteel")
        case = page.locator(f"article[data-report='{report_id}']")
        await case.wait_for()
        row = case.locator(f"li[data-order='{order.work_order_id}']")
        assert await row.locator("[data-status]").get_attribute("data-status") == "issued"
        assert "uitgegeven" in await row.inner_text()
        assert await row.locator("[data-due]").get_attribute("data-due") == order.due_date.isoformat()
        assert order.due_date.strftime("%d/%m/%Y") in await row.inner_text()
        assert await page.get_attribute("[data-contact]", "data-contact") == "hidden"
        # The communication team's pages are not the agents'.
        response = await page.goto(f"{world.base}/console/comms/")
        assert response is not None
        assert response.status == 403


async def test_the_pages_actions_need_the_sessions_csrf_token_and_the_teams_role(world: World) -> None:
    form = {"key": "sewer.blocked|district:Gelinden", "reason": "werken", "duration": "1h", "action": "create"}

    async def silences() -> int:
        async with world.hub.sessions() as session:
            rows = await session.execute(select(AlertSilence).where(AlertSilence.district == "Gelinden"))
            return len(rows.scalars().all())

    async with httpx.AsyncClient(base_url=world.base, timeout=30) as team:
        await sign_in(team, "comms-user")
        page = await team.get("/console/comms/silences")
        refused = await team.post("/console/comms/silences", data=form | {"csrf": "forged"})
        assert refused.status_code == 403
        assert await silences() == 0
        made = await team.post("/console/comms/silences", data=form | {"csrf": csrf_of(page.text)})
        assert made.status_code == 303
        assert await silences() == 1
    async with httpx.AsyncClient(base_url=world.base, timeout=30) as agent:
        await sign_in(agent, "agent-user")
        page = await agent.get("/console/agent/")
        assert page.status_code == 200
        posted = await agent.post(
            "/console/comms/incidents/inc-x/posted", data={"csrf": csrf_of(page.text), "channel.website": "on"}
        )
        assert posted.status_code == 403

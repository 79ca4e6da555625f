"""Screenshots of each console page (communication team, agents, operations, management), into docs/console/.

    .venv/bin/python scripts/console-screenshots.py [--out docs/console]

Needs RabbitMQ (HUB_TEST_AMQP_URL or localhost) and Debian's Chromium (/usr/bin/chromium or HUB_TEST_CHROMIUM).
It makes a fresh SQLite database and a vhost of its own on the broker, runs the router, spikes and statistics
consumers with `hub serve`, plays two incidents (a missed collection in Brustem, broken street lights in Velm,
which the team silences), posts a notice on one, edits a draft, puts two reports in the router's dead-letter queue
(one replayed from the page, so the audit trail has it; the other opened in full), plants scheduled sends worth
seeing (a webhook with its circuit open, one disabled by a 410, pending and exhausted deliveries and alerts: tests/
deliveries_support.py), fills the statistics with a simulated week this year and the same week last year, and
photographs every page, the dashboard and the language page too, at 1366x900 and at a phone's width (390x844),
full page.
Deterministic but for the clock: the incidents happen in the last hour, the weeks are the third before today.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import random
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consumers.stats.comparison import year_before  # noqa: E402
from infra.broker_admin import BrokerAdminError, Permissions, connect_admin, credentials_of  # noqa: E402
from infra.clock import utcnow  # noqa: E402
from infra.db import create_engine  # noqa: E402
from infra.db.engine import upgrade_schema  # noqa: E402
from tests.console_users import login, make_users  # noqa: E402
from tests.console_world import CHROMIUM, CHROMIUM_ARGS, World, burst, console_world, wait_alert  # noqa: E402
from tests.deliveries_support import WEBHOOK_SECRETS, plant_deliveries  # noqa: E402
from tests.integration.test_dead_letters import _dead_letter  # noqa: E402
from tests.stats_dashboard_support import fill_weeks, week_of  # noqa: E402
from tests.support import CitySystem, make_report  # noqa: E402

SIZES = {"desktop": (1366, 900), "phone": (390, 844)}
DASHBOARD_READY = "body[data-loads][data-state='ready']"


@contextlib.asynccontextmanager
async def own_vhost(broker_url: str) -> AsyncIterator[str]:
    parts = urlsplit(broker_url)
    vhost = f"hub-screens-{uuid.uuid4().hex[:8]}"
    admin = await connect_admin("auto", amqp_url=broker_url, management_url=f"http://{parts.hostname}:15672")
    try:
        await admin.add_vhost(vhost)
        await admin.set_permissions(vhost, credentials_of(broker_url)[0], Permissions(".*", ".*", ".*"))
    except BrokerAdminError:
        await admin.aclose()
        yield broker_url
        return
    try:
        yield urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), parts.query, parts.fragment))
    finally:
        await admin.delete_vhost(vhost)
        await admin.aclose()


async def dead_letters(world: World) -> list[str]:
    """Two reports in the router's dead-letter queue, as after an outage that outlasted the retries."""
    ids = []
    async with CitySystem(world.amqp_url) as city:
        for i, category in enumerate(("lighting.defect", "road.damage")):
            report = make_report(random.Random(40 + i), i, run=uuid.uuid4().hex[:6], category=category)
            ids.append(f"late-{report.report_id}")
            await _dead_letter(city, "router", report, ids[-1])
    return ids


async def statistics(world: World) -> None:
    """A simulated week three weeks ago and the same week a year before, for management's comparison."""
    first = dt.date.today() - dt.timedelta(days=21)
    await fill_weeks(world.database_url, week_of(year_before(first), seed=1), week_of(first, seed=2))


async def photograph(page: Any, base: str, out: Path, pages: dict[str, str], ready: str | None = None) -> None:
    for name, path in pages.items():
        for size, (width, height) in SIZES.items():
            await page.set_viewport_size({"width": width, "height": height})
            await page.goto(f"{base}{path}")
            if ready:  # a page that draws after loading (the dashboard): wait until it has
                await page.wait_for_selector(ready, state="attached", timeout=30_000)
            target = out / f"console-{name}-{size}.png"
            await page.screenshot(path=str(target), full_page=True)
            print(target.relative_to(ROOT) if target.is_relative_to(ROOT) else target)


async def main(out: Path) -> int:
    from playwright.async_api import async_playwright

    broker = os.environ.get("HUB_TEST_AMQP_URL", "amqp://guest:guest@localhost:5672/")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        database_url = f"sqlite+aiosqlite:///{tmp / 'console.sqlite3'}"
        engine = create_engine(database_url)
        await upgrade_schema(engine)
        await engine.dispose()
        # The endpoints configured (a webhook secret, an SMTP host), so their planted states show; serve sends nothing.
        configured = {"HUB_WEBHOOK_SECRETS": WEBHOOK_SECRETS, "HUB_SMTP_HOST": "smtp.stad.example.be"}
        async with (
            own_vhost(broker) as amqp_url,
            console_world(amqp_url, database_url, tmp, **configured) as world,
        ):
            await make_users(world, tmp)
            await burst(amqp_url, district="Brustem", streets=("Ordingenstraat", "Kerkstraat"), n=9)
            brustem = await wait_alert(world, "Brustem", "detected")
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                context = await browser.new_context(
                    viewport={"width": 1366, "height": 900}, timezone_id="Europe/Brussels", locale="nl-BE"
                )
                page = await context.new_page()
                await login(page, world.base, "comms")
                # The team silences the street lights in Velm, then the lights go out: held back.
                await page.goto(f"{world.base}/console/comms/silences")
                await page.fill("input[name=key]", "lighting.defect|district:Velm")
                await page.fill("input[name=reason]", "Netbeheerder werkt aan de cabine, bericht staat online")
                await page.click("button[value=create]")
                await burst(
                    amqp_url, district="Velm", streets=("Velmerlaan",), n=8, category="lighting.defect", fraction=None
                )
                await wait_alert(world, "Velm", "suppressed-fire")
                await page.goto(f"{world.base}/console/comms/incidents/{brustem.incident_id}")
                await page.click("button[name=post]")
                await page.wait_for_url("**ok=posted**")
                shots = {
                    "live": "/console/comms/",
                    "incident": f"/console/comms/incidents/{brustem.incident_id}",
                    "silences": "/console/comms/silences?key=waste.missed_collection%7Cdistrict%3ABrustem&preview=1",
                    "history": "/console/comms/history",
                }
                await asyncio.sleep(2)  # the statistics mark the notice
                agent_context = await browser.new_context(
                    viewport={"width": 1366, "height": 900}, timezone_id="Europe/Brussels", locale="nl-BE"
                )
                agent = await agent_context.new_page()
                await login(agent, world.base, "agent")
                agent_shots = {"now": "/console/agent/", "lookup": "/console/agent/lookup?q=Ordingen"}
                for who, pages in ((page, shots), (agent, agent_shots)):
                    await photograph(who, world.base, out, pages)
                await agent_context.close()

                # Operations: one dead letter replayed from the page (the audit trail has it), one left.
                letters = await dead_letters(world)
                await plant_deliveries(world.database_url, utcnow())
                ops = await (
                    await browser.new_context(viewport={"width": 1366, "height": 900}, locale="nl-BE")
                ).new_page()
                await login(ops, world.base, "ops")
                await ops.goto(f"{world.base}/console/ops/dlq/router")
                async with ops.expect_navigation():
                    await ops.locator(f'tr[data-message-id="{letters[0]}"] button[data-action="replay"]').click()
                await photograph(
                    ops,
                    world.base,
                    out,
                    {
                        "ops": "/console/ops/",
                        "dlq": "/console/ops/dlq/router",
                        "dlq-message": f"/console/ops/dlq/router/message?id={quote(letters[1], safe='')}",
                        "deliveries": "/console/ops/deliveries",
                        "audit": "/console/ops/audit",
                    },
                )

                # Management: this year so far against last year, and the simulated week against its twin.
                await statistics(world)
                first = dt.date.today() - dt.timedelta(days=21)
                week = f"from={first}&to={first + dt.timedelta(days=6)}"
                manager = await (
                    await browser.new_context(viewport={"width": 1366, "height": 900}, locale="nl-BE")
                ).new_page()
                await photograph(manager, world.base, out, {"login": "/console/login"})
                await login(manager, world.base, "management")
                await photograph(
                    manager,
                    world.base,
                    out,
                    {
                        "home": "/console/",
                        "language": "/console/language",
                        "management": "/console/management/",
                        "management-week": f"/console/management/?{week}",
                    },
                )
                await photograph(manager, world.base, out, {"dashboard": f"/dashboard/?{week}"}, ready=DASHBOARD_READY)
                await browser.close()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console", help="folder (default docs/console)")
    folder = parser.parse_args().out
    folder.mkdir(parents=True, exist_ok=True)
    raise SystemExit(asyncio.run(main(folder)))

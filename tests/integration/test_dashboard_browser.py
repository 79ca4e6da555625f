"""The dashboard in a real headless Chromium (Debian's `chromium`), driven by Playwright.

`hub serve` runs as its own process on a random port over a PostgreSQL database that holds a known week,
put in through the real stats handler. The test reads the figures off the SVG marks (every bar and point
carries data-series / data-label / data-value) and checks them against the API's answers and against the
database's own rows, then changes the filters and checks the charts follow. It reads in Dutch (the user's
language: words, numbers, dates), then in French and English once the user chooses them. Any console error
(a word missing from the catalogue is one), uncaught exception or failed request fails the test. No Chromium
is a failure with instructions, never a skip.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from consumers.console.dashboard_text import TEXT
from consumers.domain.catalogue import Catalogue
from consumers.stats.saved import BEFORE, WINDOW, open_spans
from consumers.stats.tables import StatCall
from hub.settings import CONFIG_DIR
from infra.db import create_engine
from tests.console_support import add_token, add_user, sign_in_page
from tests.console_world import CHROMIUM, CHROMIUM_ARGS
from tests.console_world import serving as serve_process
from tests.stats_dashboard_support import CALENDAR, INCIDENT_ID, Week, build_week, fill

CATALOGUE = Catalogue.load(CONFIG_DIR / "categories.yaml", CONFIG_DIR / "assignees.yaml")

pytestmark = pytest.mark.integration

# Words the dashboard showed in English before it spoke the user's language.
ENGLISH = (
    "Calls",
    "Reports",
    "Work orders",
    "Show as a table",
    "Incident timeline",
    "answered",
    "All districts",
    "Calendar year",
    "What the notice saved",
)
CHARTS = (
    "calls-over-time",
    "calls-by-hour",
    "topics-outcomes",
    "reports-by-category",
    "reports-by-district",
    "workorders-by-assignee",
    "incident-timeline",
)


@pytest.fixture
def chromium() -> str:
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"Chromium is needed for the dashboard test and {CHROMIUM} does not exist. Install Debian's: "
            "apt-get update && apt-get install -y chromium chromium-driver (.ci/run does), "
            "or set HUB_TEST_CHROMIUM to a Chromium binary. Tests never skip a missing browser.",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture
def week() -> Week:
    return build_week()


@contextlib.asynccontextmanager
async def serving(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """`hub serve` as its own process on a random free port, on this database."""
    env = {"HUB_DATABASE_URL": database_url, "HUB_LOG_LEVEL": "WARNING"}
    async with serve_process(env, tmp_path / "serve.log") as base:
        yield base


@pytest.fixture
async def hub_serve(postgres_url: str, week: Week, tmp_path: Path) -> AsyncIterator[str]:
    """`hub serve` over the week's database, with a `management` user to sign in as."""
    await fill(postgres_url, week)
    await add_user(postgres_url)
    async with serving(postgres_url, tmp_path) as base:
        yield base


@contextlib.asynccontextmanager
async def browser(chromium: str, tmp_path: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        # A persistent context on a fresh, empty profile folder: nothing carried over from another run.
        context = await p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
            timezone_id="Europe/Brussels",
        )
        try:
            yield context.pages[0] if context.pages else await context.new_page()
        finally:
            await context.close()


class Dashboard:
    """The page, with what the browser said collected for the final check."""

    def __init__(self, page: Any, base: str, token: str | None = None) -> None:
        self.page = page
        self.base = base
        self.token = token  # the API's figures are read as a machine client would: with an API token
        self.problems: list[str] = []
        page.on(
            "console",
            lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None,
        )
        page.on("pageerror", lambda e: self.problems.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} {r.failure}"))
        page.on("response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

    async def loads(self) -> int:
        return int(await self.page.evaluate("Number(document.body.dataset.loads || 0)"))

    async def after(self, action: Any) -> None:
        """Run an action that refetches, and wait until the charts are drawn from the new answers."""
        before = await self.loads()
        await action()
        # A selector, not wait_for_function: the page's Content-Security-Policy forbids the eval that needs.
        # Loads only grow, so "not the count before" is "more than before".
        await self.page.wait_for_selector(
            f"body[data-loads][data-state='ready']:not([data-loads='{before}'])", state="attached", timeout=15_000
        )

    async def marks(self, chart: str, series: str, mark: str = "rect.bar") -> dict[str, float]:
        return dict(
            await self.page.eval_on_selector_all(
                f'[data-chart="{chart}"] {mark}[data-series="{series}"]',
                "els => els.map(e => [e.dataset.label, Number(e.dataset.value)])",
            )
        )

    async def totals(self, chart: str, group: str = "g.bar-row", key: str = "key") -> dict[str, float]:
        return dict(
            await self.page.eval_on_selector_all(
                f'[data-chart="{chart}"] {group}',
                f"els => els.map(e => [e.dataset.{key}, Number(e.dataset.total)])",
            )
        )

    async def reads_dutch(self) -> None:
        """The words, numbers and names on the page are Dutch: none of the English it had, the topics and
        outcomes by their Dutch names, a rate with a decimal comma."""
        text = await self.page.locator("body").inner_text()
        english = [w for w in ENGLISH if w in text]
        assert not english, english
        topics = dict(
            await self.page.eval_on_selector_all(
                '[data-chart="topics-outcomes"] g.bar-row', "els => els.map(e => [e.dataset.key, e.dataset.label])"
            )
        )
        assert topics
        assert topics == {key: TEXT["nl"][f"topic.{key}"] for key in topics}
        legend = await self.page.locator('[data-chart="topics-outcomes"] .legend li').all_inner_texts()
        assert TEXT["nl"]["outcome.answered_at_once"] in legend, legend
        summary = await self.api("/summary", "year=2021")
        fcr = await self.page.locator('[data-kpi="first_contact_resolution"] .k-value').inner_text()
        assert fcr == f"{summary['calls']['first_contact_resolution_pct']:.1f}".replace(".", ",") + " %"
        note = await self.page.locator("#orders-note").inner_text()  # "... op 4 december 2026."
        assert note.startswith(TEXT["nl"]["note.workorders"].split("{date}")[0]), note
        assert "vandaag" not in note, note

    async def api(self, path: str, query: str) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with httpx.AsyncClient(base_url=self.base, headers=headers) as client:
            response = await client.get(f"/api/stats{path}?{query}")
            assert response.status_code == 200, response.text
            return response.json()


@pytest.fixture
async def dashboard(chromium: str, hub_serve: str, postgres_url: str, tmp_path: Path) -> AsyncIterator[Dashboard]:
    token = await add_token(postgres_url)
    async with browser(chromium, tmp_path) as page:
        await sign_in_page(page, hub_serve)  # the dashboard is for signed-in `management` users
        board = Dashboard(page, hub_serve, token)
        yield board
        shot = os.environ.get("HUB_DASHBOARD_SCREENSHOT")
        if shot:
            await page.screenshot(path=shot, full_page=True)


async def db_calls_per_day(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            c = StatCall.__table__.c
            rows = await conn.execute(select(c.local_date, func.count()).group_by(c.local_date))
            return {day.isoformat(): int(n) for day, n in rows}
    finally:
        await engine.dispose()


async def test_the_dashboard_draws_the_databases_figures_and_follows_its_filters(
    dashboard: Dashboard, week: Week, postgres_url: str
) -> None:
    page = dashboard.page
    await dashboard.after(lambda: page.goto(f"{dashboard.base}/dashboard"))
    # The latest year with figures and the incident shown, in the URL.
    assert page.url.endswith(f"/dashboard/?year=2021&incident={INCIDENT_ID}"), page.url
    # In Dutch, the manager's language: the page, the charts' words, numbers and dates.
    assert await page.title() == "Statistiek van het ContactCenter · Stad Sint-Truiden"
    assert await page.get_attribute("html", "lang") == "nl"
    await dashboard.reads_dutch()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1400  # nothing sticks out
    incident = await page.locator("#f-incident option:checked").inner_text()  # "17 mrt. 11:49 · Afval niet ..."
    assert " mrt" in incident, incident
    if week.incident.waste_fraction:  # named as the Dutch draft names it, not by its code
        assert f"({week.incident.waste_fraction})" not in incident, incident

    # Every chart is an SVG image with a title, and has a table beside it.
    for chart in CHARTS:
        svg = page.locator(f'[data-chart="{chart}"] svg[role="img"]')
        assert await svg.count() == 1, chart
        assert (await svg.locator("title").first.text_content() or "").strip(), chart
        assert await page.locator(f'[data-chart="{chart}"] table').count() == 1, chart

    # Calls per day: a bar per day of 2021, each the API's figure, which is the database's count.
    per_day = await dashboard.marks("calls-over-time", "calls")
    api_days = await dashboard.api("/series", "year=2021&grain=day")
    assert len(per_day) == 365
    assert per_day == {p["label"]: p["calls"] for p in api_days["points"]}
    in_db = await db_calls_per_day(postgres_url)
    assert {d: n for d, n in per_day.items() if n} == in_db
    assert {d: n for d, n in per_day.items() if n} == {d: n for d, n in week.calls_per_day().items() if n}
    reports_line = await dashboard.marks("calls-over-time", "reports", "circle.point")
    assert sum(reports_line.values()) == len(week.reports)

    # Calls per hour of the day, in and outside opening hours.
    hours = await dashboard.totals("calls-by-hour", "g.bar-group", "label")
    assert [hours[f"{h:02d}"] for h in range(24)] == week.calls_per_hour()
    outside = await dashboard.marks("calls-by-hour", "outside")
    assert sum(outside.values()) == 5  # the week's evening calls
    api_hours = await dashboard.api("/calls/hours", "year=2021")
    assert [h["calls"] for h in api_hours["hours"]] == week.calls_per_hour()

    # Topics and outcomes: a row per topic, a segment per outcome.
    topics = await dashboard.totals("topics-outcomes")
    assert topics == dict(Counter(c.topic.value for c in week.calls))
    at_once = await dashboard.marks("topics-outcomes", "answered_at_once")
    assert at_once == dict(Counter(c.topic.value for c in week.calls if c.outcome.value == "answered_at_once"))

    # Reports by category and district.
    assert await dashboard.totals("reports-by-category") == dict(Counter(r.category for r in week.reports))
    assert await dashboard.totals("reports-by-district") == dict(Counter(r.location.district for r in week.reports))

    # Open and overdue work orders per assignee. The page judges against today, the expectation against AS_OF:
    # every due date of the week lies before both, so an open order is overdue either way.
    want = week.orders_per_assignee()
    assert await dashboard.marks("workorders-by-assignee", "overdue") == {a: c["overdue"] for a, c in want.items()}
    assert await dashboard.marks("workorders-by-assignee", "done") == {a: c["done"] for a, c in want.items()}
    assert await dashboard.marks("workorders-by-assignee", "rejected") == {a: c["rejected"] for a, c in want.items()}

    # The incident timeline: the API's buckets, the alert and the resolution marked.
    timeline = await dashboard.api(f"/incidents/{await page.locator('#f-incident').input_value()}/timeline", "")
    bars = await dashboard.marks("incident-timeline", "calls")
    assert bars == {str(b["minutes_from_alert"]): b["calls"] for b in timeline["buckets"]}
    assert sum(bars.values()) > 0
    for marker in ("alert", "broadcast", "resolved"):
        assert await page.locator(f'[data-chart="incident-timeline"] [data-marker="{marker}"]').count() == 1
    # What the notice saved, as plain text beside the chart: the calls the scenario has before and after it.
    saved = timeline["incident"]["notice_saved"]
    before = open_spans(CALENDAR, week.broadcast, BEFORE, backwards=True)
    after = open_spans(CALENDAR, week.broadcast, WINDOW)
    assert (saved["calls_before"], saved["calls_after"]) == (week.incident_calls(before), week.incident_calls(after))
    assert saved["calls_before"] > 0
    shown = page.locator('[data-chart="incident-timeline"] .notice-saved')
    n = round(saved["calls_fewer"])
    said = TEXT["nl"]["saved.fewer" if n >= 0 else "saved.more"].split("{n}")
    assert f"Wat het bericht uitspaarde: {said[0]}{abs(n)}{said[1].split('{low}')[0]}" in await shown.inner_text()
    assert float(await shown.get_attribute("data-notice-saved")) == saved["calls_fewer"]

    # A district: every chart refetches and shows that district's figures only.
    district = week.incident.district
    await dashboard.after(lambda: page.select_option("#f-district", district))
    assert f"district={district}" in page.url
    assert await dashboard.totals("reports-by-category") == dict(Counter(r.category for r in week.reports_in(district)))
    assert await dashboard.totals("reports-by-district") == {district: len(week.reports_in(district))}
    days = await dashboard.marks("calls-over-time", "calls")
    assert {d: n for d, n in days.items() if n} == {d: n for d, n in week.calls_per_day(district).items() if n}
    orders = await dashboard.marks("workorders-by-assignee", "overdue")
    assert orders == {a: c["overdue"] for a, c in week.orders_per_assignee(district).items()}
    kpi = await page.locator('[data-kpi="calls"] .k-value').text_content()
    assert kpi == f"{len(week.calls_in(district)):,}".replace(",", ".")

    # And a category on top.
    category = week.incident.category
    await dashboard.after(lambda: page.select_option("#f-category", category))
    assert await dashboard.totals("reports-by-category") == {category: len(week.reports_in(district, category))}
    hours = await dashboard.totals("calls-by-hour", "g.bar-group", "label")
    assert [hours[f"{h:02d}"] for h in range(24)] == week.calls_per_hour(district, category)

    # A date range of the week, by week: one bar with all the week's calls of that district and category.
    await dashboard.after(lambda: page.select_option("#f-district", ""))
    await dashboard.after(lambda: page.select_option("#f-mode", "range"))
    await dashboard.after(lambda: page.fill("#f-from", "2021-03-15"))
    await dashboard.after(lambda: page.fill("#f-to", "2021-03-21"))
    days = await dashboard.marks("calls-over-time", "calls")
    assert days == week.calls_per_day(None, category)
    await dashboard.after(lambda: page.click('[data-grain="week"]'))
    assert await dashboard.marks("calls-over-time", "calls") == {"2021-W11": len(week.calls_in(None, category))}
    assert "from=2021-03-15&to=2021-03-21" in page.url
    period = await page.locator("#period-label").inner_text()  # Dutch months: "15 mrt. – 21 mrt. 2021"
    assert period.startswith("15 mrt"), period
    assert period.endswith(" 2021"), period
    await dashboard.after(lambda: page.select_option("#f-category", ""))

    # An incident deep link (a link from management's page, an alert, a colleague) opens the same view and the URL
    # keeps it, period, grain and incident, through the page's own rewrite of the URL.
    link = f"{dashboard.base}/dashboard/?from=2021-03-15&to=2021-03-21&grain=week&incident={INCIDENT_ID}"
    ready = "body[data-loads][data-state='ready']"  # a new page: its loads count from 1 again
    await page.goto(link)
    await page.wait_for_selector(ready, state="attached")
    assert page.url == link
    assert await page.locator("#f-incident").input_value() == INCIDENT_ID
    assert await page.locator('[data-grain="week"]').get_attribute("aria-pressed") == "true"
    # One that names no incident of the period: the period's first is shown, and the URL says which.
    await page.goto(f"{dashboard.base}/dashboard/?year=2021&incident=gone")
    await page.wait_for_selector(ready, state="attached")
    assert page.url.endswith(f"?year=2021&incident={INCIDENT_ID}"), page.url

    # Each user reads it in their own language: chosen from the page's own link, back on the same view.
    view = page.url
    fcr = (await dashboard.api("/summary", "year=2021"))["calls"]["first_contact_resolution_pct"]
    for lang, title, point in (
        ("fr", "Statistiques du ContactCenter · Ville de Saint-Trond", ","),
        ("en", "Contact centre statistics · City of Sint-Truiden", "."),
    ):
        async with page.expect_navigation():
            await page.click("#language")
        await page.check(f'input[name="language"][value="{lang}"]')
        async with page.expect_navigation():
            await page.click('form[action="/console/language"] button[type="submit"]')
        await page.wait_for_selector(ready, state="attached")
        assert page.url == view
        assert await page.title() == title
        assert await page.get_attribute("html", "lang") == lang
        assert await page.locator('[data-kpi="calls"] .k-label').text_content() == TEXT[lang]["kpi.calls"]
        shown_fcr = await page.locator('[data-kpi="first_contact_resolution"] .k-value').inner_text()
        assert shown_fcr == f"{fcr:.1f}".replace(".", point) + " %"
        assert await page.locator("#grain-label").inner_text() == TEXT[lang]["per.day"]
        named = CATALOGUE.category(category)
        assert named is not None
        shown = await page.locator(f'#f-category option[value="{category}"]').inner_text()
        assert shown == named.name(lang) != named.name_nl  # the catalogue's own French and English names

    # On a phone: the charts redraw to its width and nothing is wider than the screen (wide tables scroll).
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.wait_for_timeout(400)  # the page redraws 150 ms after a resize
    wider = await page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391"
        " && !e.closest('.table-scroll'))"
        ".map(e => `${e.tagName}.${e.getAttribute('class') || ''}#${e.id}`).slice(0, 8)"
    )
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390, wider
    assert not wider, wider

    assert not dashboard.problems, "\n".join(dashboard.problems)

    # A query the API refuses: the error line gives the hub's reason in the user's words, not pydantic's English.
    await page.goto(f"{dashboard.base}/dashboard/?year=twintig")
    await page.wait_for_selector("body[data-state='error']", state="attached")
    assert await page.locator("#status").inner_text() == TEXT["en"]["error.load"].format(
        error="year: not a whole number"
    )


async def test_the_asyncapi_page_renders_offline(chromium: str, sqlite_url: str, tmp_path: Path) -> None:
    """Every request to another origin is refused: the page still shows the contracts, with no console error
    (a Content-Security-Policy violation is one)."""
    async with serving(sqlite_url, tmp_path) as base, browser(chromium, tmp_path) as page:
        board = Dashboard(page, base)
        elsewhere: list[str] = []

        async def only_the_hub(route: Any) -> None:
            if route.request.url.startswith(base):
                await route.continue_()
            else:
                elsewhere.append(route.request.url)
                await route.abort()

        await page.route("**/*", only_the_hub)
        await page.goto(f"{base}/asyncapi")
        await page.wait_for_selector("body[data-state]", state="attached", timeout=30_000)
        assert await page.evaluate("document.body.dataset.state") == "ready", await page.text_content("#asyncapi")
        await page.get_by_text("ReportFiled").first.wait_for(state="attached", timeout=30_000)
        assert await page.locator("#asyncapi .aui-root, #asyncapi section").count() > 0
        assert not elsewhere, elsewhere
        assert not board.problems, "\n".join(board.problems)

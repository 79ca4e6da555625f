"""Management's page against the same period last year, over a real PostgreSQL: two simulated weeks (15-21 March
2021 and 2022) go in through the statistics handler; the page, `/api/stats/compare` and the CSV export give the
figures counted from the messages themselves, per key figure, category and district, for a year and for a range
with a district filter; in Chromium (`hub serve` as its own process) the page reads in Dutch, its form filters,
its CSV download equals the API and the dashboard opens on the same period."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from consumers.stats.comparison import year_before
from consumers.stats.schemas import MAX_DAYS
from contracts import ReportFiled
from tests.console_support import add_token, add_user, sign_in, sign_in_page
from tests.integration.test_console_access import serving
from tests.integration.test_dashboard_browser import Dashboard, browser, chromium
from tests.integration.test_dashboard_browser import serving as serving_hub
from tests.stats_dashboard_support import TZ, fill_weeks, week_of

pytestmark = pytest.mark.integration
__all__ = ["chromium"]  # the fixture: fails, never skips, without Debian's Chromium


def day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(TZ).date()


def page_rows(html: str, by: str) -> dict[str, tuple[float, float]]:
    table = re.search(rf'<table class="responsive" data-compare="{by}".*?</table>', html, re.S)
    assert table is not None, f"no {by} table on the page"
    found = re.findall(r'<tr data-key="([^"]+)" data-now="([^"]*)" data-before="([^"]*)"', table.group(0))
    return {k: (float(n), float(b)) for k, n, b in found if n != "" and b != ""}


def per(reports: list[ReportFiled], what: Callable[[ReportFiled], str]) -> Counter[str]:
    return Counter(what(r) for r in reports)


async def test_the_page_the_api_and_the_csv_compare_with_the_same_period_last_year(postgres_url: str) -> None:
    before = week_of(dt.date(2021, 3, 15), seed=2021)
    now = week_of(dt.date(2022, 3, 15), seed=2022)
    await fill_weeks(postgres_url, before, now)
    await add_user(postgres_url, "mia", ("management",))
    token = {"Authorization": f"Bearer {await add_token(postgres_url, 'bi', ('management',))}"}
    async with serving(postgres_url) as client:
        await sign_in(client, "mia")
        # A year: 2022 against 2021, each holding its simulated week.
        page = await client.get("/console/management/?year=2022")
        assert page.status_code == 200, page.text[:500]
        html = page.text
        assert '<html lang="nl">' in html
        assert "Vergeleken met dezelfde periode vorig jaar" in html
        assert "01-01-2022 t/m 31-12-2022 tegenover 01-01-2021 t/m 31-12-2021" in html
        assert 'data-compare-previous="2021-01-01..2021-12-31"' in html
        assert "data-so-far" not in html  # a past year is compared whole
        expected = {
            "calls": (len(now[0]), len(before[0])),
            "abandoned": tuple(sum(c.outcome.value == "abandoned" for c in w[0]) for w in (now, before)),
            "reports": (len(now[1]), len(before[1])),
            "workorders": (len(now[2]), len(before[2])),
            "incidents": (0, 0),
        }
        figures = page_rows(html, "figures")
        assert {k: figures[k] for k in expected} == expected
        assert len(now[1]) != len(before[1])  # the two weeks differ, so a swapped column would show
        categories = page_rows(html, "category")
        for code in per(now[1], lambda r: r.category) | per(before[1], lambda r: r.category):
            assert categories[code] == (
                per(now[1], lambda r: r.category)[code],
                per(before[1], lambda r: r.category)[code],
            ), code
        # Categories by their Dutch names.
        assert '<tr data-key="waste.illegal_dumping"' in html
        assert re.search(r'data-key="waste.illegal_dumping"[^>]*>\s*<th scope="row"[^>]*>Sluikstort</th>', html)
        districts = page_rows(html, "district")
        want = {
            d: (
                per(now[1], lambda r: r.location.district or "")[d],
                per(before[1], lambda r: r.location.district or "")[d],
            )
            for d in {r.location.district or "" for r in now[1] + before[1]}
        }
        assert districts == want

        # The API gives the same rows, and the CSV holds the API's figures.
        api = (await client.get("/api/stats/compare?year=2022&by=category", headers=token)).json()
        assert {r["key"]: (r["now"], r["before"]) for r in api["rows"]} == categories
        for row in api["rows"]:
            assert row["change"] == row["now"] - row["before"]
        exported = await client.get("/console/management/export/compare.csv?year=2022&by=category")
        assert exported.status_code == 200
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [(r["key"], float(r["now"]), float(r["before"])) for r in rows] == [
            (r["key"], r["now"], r["before"]) for r in api["rows"]
        ]
        fcr = (await client.get("/api/stats/summary?year=2022", headers=token)).json()["calls"]
        assert figures["first_contact_resolution_pct"][0] == fcr["first_contact_resolution_pct"]

        # A range of three days in one district: 16-18 March 2022 against 16-18 March 2021.
        district = max(want, key=lambda d: sum(want[d]))
        page = await client.get(f"/console/management/?from=2022-03-16&to=2022-03-18&district={district}")
        assert page.status_code == 200
        in_range = [
            [
                r
                for r in w[1]
                if r.location.district == district and dt.date(y, 3, 16) <= day(r.filed_at) <= dt.date(y, 3, 18)
            ]
            for w, y in ((now, 2022), (before, 2021))
        ]
        assert page_rows(page.text, "figures")["reports"] == (len(in_range[0]), len(in_range[1]))
        ranged = page_rows(page.text, "category")
        assert ranged == {
            code: (per(in_range[0], lambda r: r.category)[code], per(in_range[1], lambda r: r.category)[code])
            for code in {r.category for r in in_range[0] + in_range[1]}
        }
        # The CSV links keep the period and the filter.
        assert (
            f'href="/console/management/export/compare.csv?from=2022-03-16&amp;to=2022-03-18&amp;district={district}&amp;by=category"'
            in page.text
        )

        # This year, the default: so far, against the same days last year.
        today = dt.datetime.now(TZ).date()
        current = (await client.get("/console/management/")).text
        assert f'data-compare-period="{today.year}-01-01..{today}"' in current
        assert f'data-compare-previous="{today.year - 1}-01-01..{year_before(today)}"' in current
        assert f'data-so-far="{today}"' in current

        # A period that cannot be: the page says why, in Dutch, and shows no figures.
        bad = await client.get("/console/management/?year=2022&from=2022-01-01")
        assert bad.status_code == 422
        assert 'data-error="mgmt.bad_query"' in bad.text
        assert "Deze periode of filter kan niet: geef een jaar of een periode (van, tot), niet allebei" in bad.text
        too_long = await client.get("/console/management/?from=2010-01-01")  # to today: the API refuses it
        assert f"kan niet: een periode van hoogstens {MAX_DAYS} dagen" in too_long.text
        typo = await client.get("/console/management/?year=twintig")
        assert "kan niet: jaar: geen geheel getal" in typo.text
        assert 'data-compare="figures"' not in bad.text


async def test_in_chromium_management_reads_filters_and_downloads_the_comparison(
    chromium: str, postgres_url: str, tmp_path: Path
) -> None:
    before = week_of(dt.date(2021, 3, 15), seed=2021)
    now = week_of(dt.date(2022, 3, 15), seed=2022)
    await fill_weeks(postgres_url, before, now)
    await add_user(postgres_url, "mia", ("management",))
    token = {"Authorization": f"Bearer {await add_token(postgres_url, 'bi', ('management',))}"}
    async with serving_hub(postgres_url, tmp_path) as base, browser(chromium, tmp_path) as page:
        board = Dashboard(page, base)
        await sign_in_page(page, base, "mia")
        await page.goto(f"{base}/console/management/?year=2022")
        assert await page.locator("h2#h-compare").inner_text() == "Vergeleken met dezelfde periode vorig jaar"

        async def shown(by: str) -> dict[str, tuple[str, str, str]]:
            cells = await page.locator(f'table[data-compare="{by}"] tbody tr').evaluate_all(
                "rows => rows.map(r => [r.dataset.key, r.querySelector('th').innerText,"
                " r.querySelector('[data-col=now]').innerText, r.querySelector('[data-col=before]').innerText])"
            )
            return {key: (name, n, b) for key, name, n, b in cells}

        categories = await shown("category")
        want = {
            c: (per(now[1], lambda r: r.category)[c], per(before[1], lambda r: r.category)[c])
            for c in {r.category for r in now[1] + before[1]}
        }
        assert {k: (int(n), int(b)) for k, (_, n, b) in categories.items()} == want
        assert categories["waste.illegal_dumping"][0] == "Sluikstort"
        # Dutch numbers: a thousands point, a decimal comma.
        figures = await shown("figures")
        assert figures["calls"] == (
            "Oproepen",
            f"{len(now[0]):,}".replace(",", "."),
            f"{len(before[0]):,}".replace(",", "."),
        )
        summary = await _api(base, token, "/api/stats/summary?year=2022")
        assert figures["first_contact_resolution_pct"][1] == str(
            summary["calls"]["first_contact_resolution_pct"]
        ).replace(".", ",").removesuffix(",0")

        # The CSV downloaded from the page holds the API's rows.
        async with page.expect_download() as download:
            await page.click('a[data-csv="category"]')
        path = await (await download.value).path()
        rows = list(csv.DictReader(io.StringIO(await asyncio.to_thread(Path(path).read_text))))
        api = await _api(base, token, "/api/stats/compare?year=2022&by=category")
        assert [(r["key"], float(r["now"]), float(r["before"])) for r in rows] == [
            (r["key"], r["now"], r["before"]) for r in api["rows"]
        ]

        # A district chosen on the form: the URL keeps it, the tables count that district only.
        district = max(
            {r.location.district or "" for r in now[1]},
            key=lambda d: per(now[1], lambda r: r.location.district or "")[d],
        )
        await page.select_option('select[name="district"]', district)
        async with page.expect_navigation():
            await page.click('form[data-form="period"] button[type="submit"]')
        assert f"district={district}" in page.url
        assert "year=2022" in page.url
        mine = [[r for r in w[1] if r.location.district == district] for w in (now, before)]
        assert {k: (int(n), int(b)) for k, (_, n, b) in (await shown("district")).items()} == {
            district: (len(mine[0]), len(mine[1]))
        }
        # The dashboard opens on the same period and district.
        async with page.expect_navigation():
            await page.click('a.button[href^="/dashboard/"]')
        await page.wait_for_selector("body[data-loads][data-state='ready']", state="attached")
        assert "year=2022" in page.url
        assert "district=" in page.url
        # Phone width: the tables stack, nothing wider than the screen.
        await page.goto(f"{base}/console/management/?year=2022")
        await page.set_viewport_size({"width": 390, "height": 844})
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    # What the browser said besides the answers: the favicon's 404 (the console serves none) and the CSV link's
    # navigation, which the browser turns into the download, are expected; anything else fails.
    said = [
        p
        for p in board.problems
        if "Failed to load resource" not in p
        and not (p.startswith("HTTP 404") and p.endswith("/favicon.ico"))
        and not (p.startswith("request failed") and "/export/compare.csv" in p)
    ]
    assert not said, said


async def _api(base: str, headers: dict[str, str], path: str) -> Any:
    async with httpx.AsyncClient(base_url=base, headers=headers) as client:
        answer = await client.get(path)
        assert answer.status_code == 200, answer.text
        return answer.json()

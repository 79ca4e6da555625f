"""Management's page against the same period last year, over a real PostgreSQL: two simulated weeks (15-21 March
2021 and 2022) go in through the statistics handler; the page, `/api/stats/compare` and the CSV export give the
figures counted from the messages themselves, per key figure, category and district, for a year and for a range
with a district filter."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Callable

import pytest

from consumers.stats.comparison import year_before
from contracts import ReportFiled
from tests.console_support import add_token, add_user, sign_in
from tests.integration.test_console_access import serving
from tests.stats_dashboard_support import TZ, fill_weeks, week_of

pytestmark = pytest.mark.integration


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
        assert 'data-compare="figures"' not in bad.text

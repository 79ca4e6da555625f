"""The statistics' JSON API: a known week put in through the real stats handler, read back over HTTP.

Every expected figure is computed from the week's own messages (tests/stats_dashboard_support.py), not from
the statistics code; every answer is validated against the schema the OpenAPI document (FastAPI's) gives for it,
and the document itself with openapi-spec-validator. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import statistics
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from consumers.stats.aggregates import (
    ALL,
    CALLS,
    CATEGORY,
    CHANNEL,
    DISTRICT,
    HOURS,
    OUTCOME,
    REPORTS,
    SPIKES,
    TOPIC_OUTCOME,
    WORKORDERS,
)
from consumers.stats.queries import Period
from consumers.stats.scope import Scope
from consumers.stats.sources import CounterSource, FactSource
from consumers.stats.workorders import report_status_counts
from hub.http import create_http_app
from hub.settings import Settings
from infra.db import create_engine, create_session_factory
from tests.console_support import add_user, sign_in
from tests.stats_dashboard_support import AS_OF, CALENDAR, FIRST, INCIDENT_ID, TZ, Week, add_calls, build_week, fill

pytestmark = pytest.mark.integration

WEEK_QUERY = "from=2021-03-15&to=2021-03-21"


@pytest.fixture(scope="module")
def week() -> Week:
    return build_week()


class Api:
    """The hub's HTTP app in-process; every 200 answer is checked against its OpenAPI schema."""

    def __init__(self, client: httpx.AsyncClient, document: dict[str, Any]) -> None:
        self.client = client
        self.document = document

    async def get(self, path: str, query: str = "", status: int = 200) -> Any:
        response = await self.client.get(f"{path}?{query}" if query else path)
        assert response.status_code == status, f"{path}?{query}: {response.status_code} {response.text[:500]}"
        body = response.json()
        template = next((t for t in self.document["paths"] if _matches(t, path)), None)
        assert template is not None, path
        schema = self.document["paths"][template]["get"]["responses"][str(status)]["content"]["application/json"]
        Draft202012Validator({**schema["schema"], "components": self.document["components"]}).validate(body)
        return body


def _matches(template: str, path: str) -> bool:
    a, b = template.split("/"), path.split("/")
    return len(a) == len(b) and all(x == y or x.startswith("{") for x, y in zip(a, b, strict=True))


@contextlib.asynccontextmanager
async def serving(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """`hub serve`'s app in-process (the broker is not needed to read figures: port 1 refuses at once), signed in
    as a `management` user (the API and the dashboard need one: tests/integration/test_console_access.py)."""
    await add_user(database_url)
    app = create_http_app(Settings(database_url=database_url, amqp_url="amqp://guest:guest@127.0.0.1:1/"))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://hub") as client,
    ):
        await sign_in(client)
        yield client


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async with serving(database_url) as client:
        yield Api(client, (await client.get("/api/openapi.json")).json())


def by_key(rows: list[dict[str, Any]], value: str, key: str = "key") -> dict[str, Any]:
    return {r[key]: r[value] for r in rows}


def local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(TZ)


# --------------------------------------------------------------------------------------------------------
# The document


STATS_PATHS = {
    "/api/stats/meta",
    "/api/stats/summary",
    "/api/stats/series",
    "/api/stats/calls/hours",
    "/api/stats/reports",
    "/api/stats/workorders",
    "/api/stats/incidents",
    "/api/stats/compare",
    "/api/stats/incidents/{incident_id}/timeline",
}


async def test_the_openapi_document_is_valid_and_describes_every_route(sqlite_url: str) -> None:
    app = create_http_app(Settings(database_url=sqlite_url))
    document = app.openapi()
    validate(document)  # raises with the offending path when the document is not valid OpenAPI 3.1
    # Every route `hub serve` answers is in the document: the statistics, the callback and operations alike.
    assert {(path, method) for path, item in document["paths"].items() for method in item} == {
        *((path, "get") for path in STATS_PATHS),
        ("/contractors/{assignee}/workorder-status", "post"),
        ("/contractors/links/{token}", "get"),
        ("/contractors/links/{token}", "post"),
        ("/contractors/", "get"),
        ("/contractors/orders.csv", "get"),
        *((path, "get") for path in ("/", "/health/live", "/health/ready", "/metrics", "/asyncapi", "/asyncapi.json")),
        *(
            (f"/open311/v2/{path}", "get")
            for path in (
                "discovery.{fmt}",
                "services.{fmt}",
                "services/{name}",
                "requests.{fmt}",
                "requests/{name}",
                "tokens/{name}",
                "servicerequestupdates.{fmt}",
            )
        ),
        ("/open311/v2/requests.{fmt}", "post"),
    }
    callback = document["paths"]["/contractors/{assignee}/workorder-status"]["post"]
    assert callback["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WorkOrderStatusChanged"
    }
    assert {"webhook-id", "webhook-signature", "content-length"} <= {p["name"] for p in callback["parameters"]}
    assert {"413", "411", "401", "409"} <= set(callback["responses"])
    summary = document["paths"]["/api/stats/summary"]["get"]
    assert {p["name"] for p in summary["parameters"]} == {"year", "from", "to", "district", "category"}
    assert summary["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SummaryOut"
    }
    timeline = document["paths"]["/api/stats/incidents/{incident_id}/timeline"]["get"]
    assert {"name": "incident_id", "in": "path"}.items() <= timeline["parameters"][0].items()
    async with serving(sqlite_url) as client:
        assert (await client.get("/api/openapi.json")).json() == document
        assert (await client.get("/dashboard")).status_code == 308
        page = await client.get("/dashboard", follow_redirects=True)
        assert page.status_code == 200
        assert 'src="app.js"' in page.text
        for asset in ("app.js", "style.css"):
            assert (await client.get(f"/dashboard/{asset}")).status_code == 200


async def test_bad_parameters_are_a_422_that_names_them(sqlite_url: str) -> None:
    async with serving(sqlite_url) as client:
        api = Api(client, (await client.get("/api/openapi.json")).json())
        cases = {
            "/api/stats/summary?year=twenty": ["query", "year"],
            "/api/stats/summary?yaer=2021": ["query", "yaer"],
            "/api/stats/summary?year=1800": ["query", "year"],
            "/api/stats/summary?from=2021-02-30": ["query", "from"],
            "/api/stats/series?year=2021&grain=minute": ["query", "grain"],
            "/api/stats/reports?year=2021&by=colour": ["query", "by"],
            "/api/stats/workorders?year=2021&as_of=soon": ["query", "as_of"],
            "/api/stats/summary?year=2021&category=Not%20A%20Code": ["query", "category"],
            "/api/stats/summary?year=2021&year=2022": ["query", "year"],
            "/api/stats/incidents/x/timeline?before_minutes=5": ["query", "before_minutes"],
            "/api/stats/incidents/x/timeline?incident=x": ["query", "incident"],
            "/api/stats/meta?year=2021": ["query", "year"],
            # Days whose midnight or next day a datetime cannot hold: a 422, never a 500.
            "/api/stats/summary?from=0001-01-01": ["query", "from"],
            "/api/stats/summary?from=9999-12-31": ["query", "from"],
            "/api/stats/series?from=2021-01-01&to=9999-12-31": ["query", "to"],
        }
        for url, loc in cases.items():
            path, _, query = url.partition("?")
            body = await api.get(path, query, status=422)
            assert body["error"] == "invalid query parameters"
            assert loc in [d["loc"] for d in body["detail"]], (url, body)
        # Rules across parameters name no single one, but say what is wrong.
        for query, words in {
            "year=2021&from=2021-01-01": "not both",
            "to=2021-01-01": "to needs from",
            "from=2021-03-02&to=2021-03-01": "before",
            "from=2010-01-01&to=2021-01-01": "at most",
        }.items():
            body = await api.get("/api/stats/summary", query, status=422)
            assert words in body["detail"][0]["msg"], body
        missing = await api.get("/api/stats/incidents/no-such-incident/timeline", status=404)
        assert missing["error"] == "not found"


# --------------------------------------------------------------------------------------------------------
# The figures


async def test_the_api_gives_the_figures_of_the_week(database_url: str, api: Api, week: Week) -> None:
    await fill(database_url, week)
    calls, reports = week.calls, week.reports
    answered = [c for c in calls if c.outcome.value != "abandoned"]

    meta = await api.get("/api/stats/meta")
    assert meta["years"] == [2021]
    assert set(meta["districts"]) == {r.location.district for r in reports} | {c.district for c in calls if c.district}
    assert {c["code"] for c in meta["categories"]} == {r.category for r in reports}

    # The summary, for the week and for the whole year (read from the year counters): the same figures.
    for query in (WEEK_QUERY, "year=2021"):
        s = await api.get("/api/stats/summary", query)
        c = s["calls"]
        assert c["total"] == len(calls)
        assert c["answered"] == len(answered)
        assert c["abandoned"] == len(calls) - len(answered)
        at_once = sum(x.outcome.value == "answered_at_once" for x in calls)
        assert c["answered_at_once"] == at_once
        assert c["first_contact_resolution_pct"] == round(100 * at_once / len(answered), 1)
        assert c["avg_handle_seconds"] == round(sum(x.duration_seconds for x in answered) / len(answered), 1)
        assert c["median_handle_seconds"] == round(week.median_handle(), 1)
        assert c["outside_opening_hours"] == sum(not CALENDAR.is_open(x.started_at) for x in calls)
        assert by_key(c["by_topic"], "calls") == dict(Counter(x.topic.value for x in calls))
        assert by_key(c["by_outcome"], "count") == dict(Counter(x.outcome.value for x in calls))
        assert by_key(c["by_subject"], "calls") == dict(Counter(x.subject for x in calls))
        for topic in c["by_topic"]:
            want = Counter(x.outcome.value for x in calls if x.topic.value == topic["key"])
            assert topic["outcomes"] == dict(want)
        assert s["reports"]["total"] == len(reports)
        assert s["reports"]["outside_opening_hours"] == sum(not CALENDAR.is_open(r.filed_at) for r in reports)
        assert s["incidents"] == 1
        orders = sum(week.orders_per_assignee().values(), Counter())
        w = (await api.get("/api/stats/workorders", f"{query}&as_of={AS_OF}"))["total"]
        assert (w["issued"], w["open"], w["overdue"], w["done"], w["rejected"]) == (
            len(week.orders),
            orders["open"],
            orders["overdue"],
            orders["done"],
            orders["rejected"],
        )
        by_id = {o.work_order_id: o for o in week.orders}
        on_time = sum(
            local(by_id[wid].issued_at + dt.timedelta(hours=h)).date() <= by_id[wid].due_date
            for wid, h in week.done_hours.items()
        )
        assert w["done_on_time"] == on_time
        assert w["sla_compliance_pct"] == round(100 * on_time / (orders["done"] + orders["overdue"]), 1)
        assert w["median_completion_hours"] == round(statistics.median(week.done_hours.values()), 1)

    # Series: per day, week (2021-03-15 is a Monday) and month, and per hour.
    days = await api.get("/api/stats/series", f"{WEEK_QUERY}&grain=day")
    assert [p["label"] for p in days["points"]] == [d.isoformat() for d in week.days]
    assert by_key(days["points"], "calls", "label") == week.calls_per_day()
    assert by_key(days["points"], "reports", "label") == {
        d.isoformat(): sum(local(r.filed_at).date() == d for r in reports) for d in week.days
    }
    assert sum(p["workorders"] for p in days["points"]) == len(week.orders)
    assert sum(p["incidents"] for p in days["points"]) == 1
    weeks = await api.get("/api/stats/series", "year=2021&grain=week")
    assert len(weeks["points"]) == 53  # 2020-W53 (from Friday 1 January) to 2021-W52
    assert {p["label"]: p["calls"] for p in weeks["points"] if p["calls"]} == {"2021-W11": len(calls)}
    months = await api.get("/api/stats/series", "year=2021&grain=month")
    assert [p["calls"] for p in months["points"]] == [0, 0, len(calls), 0, 0, 0, 0, 0, 0, 0, 0, 0]
    hourly = await api.get("/api/stats/series", f"{WEEK_QUERY}&grain=hour")
    assert sum(p["calls"] for p in hourly["points"]) == len(calls)
    assert all(p["calls"] or p["reports"] or p["workorders"] or p["incidents"] for p in hourly["points"])

    hours = await api.get("/api/stats/calls/hours", "year=2021")
    assert [h["calls"] for h in hours["hours"]] == week.calls_per_hour()
    per_hour = Counter(local(r.filed_at).hour for r in reports)
    assert [h["reports"] for h in hours["hours"]] == [per_hour.get(h, 0) for h in range(24)]

    # Reports by every grouping.
    groupings = {
        "category": Counter(r.category for r in reports),
        "district": Counter(r.location.district for r in reports),
        "channel": Counter(r.channel.value for r in reports),
        "category_district": Counter(f"{r.category}|{r.location.district}" for r in reports),
    }
    for by, want in groupings.items():
        result = await api.get("/api/stats/reports", f"year=2021&by={by}")
        assert result["total"] == len(reports)
        assert by_key(result["rows"], "reports") == dict(want), by
    crossed = (await api.get("/api/stats/reports", "year=2021&by=category_district"))["rows"]
    assert all(f"{r['category']}|{r['district']}" == r["key"] for r in crossed)
    status = await api.get("/api/stats/reports", "year=2021&by=status")
    assert by_key(status["rows"], "reports") == expected_report_status(week)

    # Work orders per assignee, per category, and crossed.
    per_assignee = await api.get("/api/stats/workorders", f"year=2021&by=assignee&as_of={AS_OF}")
    want_assignee = week.orders_per_assignee()
    assert {r["key"]: {k: r[k] for k in ("issued", "open", "overdue", "done", "rejected") if r[k]} for r in per_assignee["rows"]} == {
        a: dict(c) for a, c in want_assignee.items()
    }  # fmt: skip
    per_category = await api.get("/api/stats/workorders", f"year=2021&by=category&as_of={AS_OF}")
    assert by_key(per_category["rows"], "issued") == dict(Counter(o.category for o in week.orders))
    crossed_orders = await api.get("/api/stats/workorders", f"year=2021&by=assignee_category&as_of={AS_OF}")
    assert {(r["assignee"], r["category"]): r["issued"] for r in crossed_orders["rows"]} == dict(
        Counter((o.assignee, o.category) for o in week.orders)
    )

    # The incident and its timeline.
    found = await api.get("/api/stats/incidents", "year=2021")
    assert [i["incident_id"] for i in found["incidents"]] == [INCIDENT_ID]
    timeline = await api.get(f"/api/stats/incidents/{INCIDENT_ID}/timeline")
    assert dt.datetime.fromisoformat(timeline["alert_at"]) == week.alert
    assert dt.datetime.fromisoformat(timeline["resolved_at"]) == week.resolved
    buckets = timeline["buckets"]
    assert buckets[0]["minutes_from_alert"] == -120
    # By default the timeline runs to an hour past the resolution.
    last_end = dt.datetime.fromisoformat(buckets[-1]["start"]) + dt.timedelta(minutes=15)
    assert last_end >= week.resolved + dt.timedelta(minutes=60)
    assert [b["calls"] for b in buckets] == timeline_counts(week, buckets, "calls")
    assert [b["reports"] for b in buckets] == timeline_counts(week, buckets, "reports")
    assert sum(b["calls"] for b in buckets) > 0

    # Filters: a district, a category, both; and one with nothing in it.
    district, category = week.incident.district, week.incident.category
    for query, d, cat in (
        (f"district={district}", district, None),
        (f"category={category}", None, category),
        (f"district={district}&category={category}", district, category),
    ):
        s = await api.get("/api/stats/summary", f"year=2021&{query}")
        assert s["filters"] == {"district": d, "category": cat}
        assert s["calls"]["total"] == len(week.calls_in(d, cat))
        assert s["reports"]["total"] == len(week.reports_in(d, cat))
        assert s["incidents"] == 1
        want_orders = week.orders_per_assignee(d, cat)
        total = (await api.get("/api/stats/workorders", f"year=2021&{query}&as_of={AS_OF}"))["total"]
        assert total["issued"] == sum(c["issued"] for c in want_orders.values())
        assert total["overdue"] == sum(c["overdue"] for c in want_orders.values())
        filtered_answered = [x.duration_seconds for x in week.calls_in(d, cat) if x.outcome.value != "abandoned"]
        assert s["calls"]["median_handle_seconds"] == round(float(statistics.median(filtered_answered)), 1)
        series = await api.get("/api/stats/series", f"{WEEK_QUERY}&{query}")
        assert by_key(series["points"], "calls", "label") == week.calls_per_day(d, cat)
        hours = await api.get("/api/stats/calls/hours", f"year=2021&{query}")
        assert [h["calls"] for h in hours["hours"]] == week.calls_per_hour(d, cat)
        cats = await api.get("/api/stats/reports", f"year=2021&{query}&by=category")
        assert by_key(cats["rows"], "reports") == dict(Counter(r.category for r in week.reports_in(d, cat)))
        orders_filtered = await api.get("/api/stats/workorders", f"year=2021&{query}&as_of={AS_OF}")
        assert by_key(orders_filtered["rows"], "issued") == {a: c["issued"] for a, c in want_orders.items()}
        assert len((await api.get("/api/stats/incidents", f"year=2021&{query}"))["incidents"]) == 1
    nowhere = await api.get("/api/stats/summary", "year=2021&district=Atlantis")
    assert (nowhere["calls"]["total"], nowhere["reports"]["total"], nowhere["incidents"]) == (0, 0, 0)
    assert nowhere["calls"]["median_handle_seconds"] is None
    assert (await api.get("/api/stats/incidents", "year=2021&district=Atlantis"))["incidents"] == []
    assert (await api.get("/api/stats/summary", "year=2020"))["calls"]["total"] == 0

    # Filtered counts are memoised for the requests of a view; a fact counted since shows in the next answer.
    query = f"year=2021&district={district}"
    before = (await api.get("/api/stats/summary", query))["calls"]["total"]
    assert (await api.get("/api/stats/summary", query))["calls"]["total"] == before
    late = week.calls_in(district)[0].model_copy(update={"call_id": "call-counted-after-the-answer"})
    await add_calls(database_url, [late])
    assert (await api.get("/api/stats/summary", query))["calls"]["total"] == before + 1

    await the_fact_counters_equal_the_stored_ones(database_url, week)


async def the_fact_counters_equal_the_stored_ones(database_url: str, week: Week) -> None:
    """A filter reads the facts through the consumer's delta functions: with a filter that keeps every fact,
    that path gives exactly the stored counters, whole periods and partial ones alike."""
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            assert week.reports  # the week has figures to compare
            for period in (
                Period.year(2021),
                Period(FIRST, FIRST + dt.timedelta(days=6)),
                Period(dt.date(2021, 3, 17), dt.date(2021, 4, 2)),
            ):
                stored = CounterSource(session, period, TZ)
                every = FactSource(session, period, TZ, Scope())
                for metric, dims in {
                    CALLS: (ALL, OUTCOME, HOURS, DISTRICT, TOPIC_OUTCOME),
                    REPORTS: (ALL, CATEGORY, DISTRICT, CHANNEL, HOURS),
                    WORKORDERS: (ALL,),
                    SPIKES: (ALL, CATEGORY),
                }.items():
                    for dim in dims:
                        assert await every.totals(metric, dim) == await stored.totals(metric, dim), (
                            period,
                            metric,
                            dim,
                        )
                        for grain in ("hour", "day", "week", "month", "year"):
                            if grain == "hour" and dim not in (ALL, OUTCOME, HOURS):
                                continue
                            assert await every.series(metric, dim, grain) == await stored.series(metric, dim, grain), (period, metric, dim, grain)  # fmt: skip
            # The status grouping mirrors `hub stats --by status`.
            status = await report_status_counts(session, Period.year(2021))
            assert status == expected_report_status(week)
    finally:
        await engine.dispose()


def expected_report_status(week: Week) -> dict[str, int]:
    statuses: dict[str, list[str]] = {}
    for order in week.orders:
        statuses.setdefault(order.report_id, []).append(week.status.get(order.work_order_id, "issued"))
    out: Counter[str] = Counter()
    for report in week.reports:
        states = statuses.get(report.report_id)
        if not states:
            out["no work order"] += 1
        elif any(s not in ("done", "rejected") for s in states):
            out["open"] += 1
        elif "done" in states:
            out["done"] += 1
        else:
            out["rejected"] += 1
    return dict(out)


def timeline_counts(week: Week, buckets: list[dict[str, Any]], what: str) -> list[int]:
    inc = week.incident
    starts = [dt.datetime.fromisoformat(b["start"]) for b in buckets]
    end = starts[-1] + dt.timedelta(minutes=15)
    if what == "calls":
        moments = [c.started_at for c in week.calls if c.subject == inc.category and c.district == inc.district]
    else:
        moments = [
            r.filed_at
            for r in week.reports
            if r.category == inc.category
            and r.location.district == inc.district
            and r.waste_fraction == inc.waste_fraction
        ]
    counts = [0] * len(starts)
    for moment in moments:
        if starts[0] <= moment < end:
            counts[int((moment - starts[0]) / dt.timedelta(minutes=15))] += 1
    return counts

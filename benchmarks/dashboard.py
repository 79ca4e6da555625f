"""How long the dashboard's queries take over a year of data on PostgreSQL (issue 3). Not part of the test suite.

    .venv/bin/python -m benchmarks.dashboard [--database-url ADMIN_URL] [--runs N] [--year 2021] [--keep]
    .venv/bin/python -m benchmarks.dashboard --reuse postgresql+asyncpg://.../hub_bench_dashboard_x

1. A fresh database is created and migrated on the PostgreSQL server of ADMIN_URL (default: this machine's).
2. `hub.simulator.simulate_year` (30,080 calls, the reports filed on the web and by app on top, a dozen
   planted incidents) goes through the real statistics handler (`StatsService` in the transaction batcher, as
   the stats subscriber applies deliveries), with the router's work orders for every report, status changes
   for part of them (done on time, done late, rejected) and an alert and a resolution per planted incident.
3. Every request the dashboard makes for that year is sent to the statistics routes `hub serve` mounts
   (in-process over ASGI: the whole FastAPI, pydantic and SQL path, no socket), `--runs` times after one
   warm-up; the p50, p95 and max per request are printed, then the page's whole load (its seven requests at
   once, then the timeline, as app.js does). Filtered requests (a district, a category) count the matching
   facts; their memo is emptied before each run, so they are timed as the first view of a filter, except for
   the page load marked "again". The last line is the same as JSON.

It measures and prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import asyncpg
import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import Catalogue
from consumers.router.handler import RoutingService
from consumers.stats import http as stats_http
from consumers.stats.api import StatsApi
from consumers.stats.handler import StatsService
from consumers.stats.sources import FactMemo
from contracts import CallLogged, SpikeDetected, SpikeResolved, WorkOrderIssued, WorkOrderStatus, WorkOrderStatusApplied
from hub.bootstrap import Domain
from hub.settings import Settings
from hub.simulator import simulate_year
from infra.batcher import TransactionBatcher
from infra.db import create_engine, create_session_factory, upgrade_schema
from infra.http.deps import provide
from infra.http.errors import install_error_handlers
from infra.outbox import Outgoing

DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
WINDOW = 1024  # deliveries in flight, as a subscriber with a large prefetch


Apply = Callable[[AsyncSession], Awaitable[list[Outgoing]]]
M = TypeVar("M")


def bind(method: Callable[[AsyncSession, M], Awaitable[list[Outgoing]]], message: M) -> Apply:
    """One delivery's work, as the subscriber hands it to the batcher."""

    async def apply(session: AsyncSession) -> list[Outgoing]:
        return await method(session, message)

    return apply


def _fixed(moment: dt.datetime) -> Callable[[], dt.datetime]:
    return lambda: moment


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _admin(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def fill_year(database_url: str, year: int) -> dict[str, int]:
    """A simulated year through the stats handler; returns what went in."""
    domain = Domain.load(Settings())
    service = StatsService(domain.calendar)
    scenario = simulate_year(year)
    applies: list[tuple[str, Apply]] = []
    orders: list[WorkOrderIssued] = []
    for event in scenario.events:
        message = event.message
        if isinstance(message, CallLogged):
            applies.append((event.event_id, bind(service.apply_call, message)))
            continue
        applies.append((event.event_id, bind(service.apply_report, message)))
        # The router's work orders, issued a minute after the report (its own clock would say "now").
        at = message.filed_at + dt.timedelta(minutes=1)
        routing = RoutingService(domain.catalogue, domain.rules, domain.calendar, clock=_fixed(at))
        orders.extend(routing.work_orders(message))
    changes = 0
    for i, order in enumerate(sorted(orders, key=lambda o: o.work_order_id)):
        applies.append((f"wo-{order.work_order_id}", bind(service.apply_workorder, order)))
        # Most orders get done (on time, a few late), some are rejected, the rest stay open.
        if i % 10 < 7:
            status, after = WorkOrderStatus.DONE, dt.timedelta(hours=3 + i % 40)
        elif i % 10 == 7:
            status, after = WorkOrderStatus.DONE, dt.timedelta(days=9)
        elif i % 10 == 8:
            status, after = WorkOrderStatus.REJECTED, dt.timedelta(hours=5)
        else:
            continue
        change = WorkOrderStatusApplied(
            work_order_id=order.work_order_id,
            report_id=order.report_id,
            assignee=order.assignee,
            category=order.category,
            previous_status=WorkOrderStatus.ISSUED,
            status=status,
            changed_at=order.issued_at + after,
            applied_at=order.issued_at + after,
        )
        applies.append((f"st-{order.work_order_id}", bind(service.apply_status, change)))
        changes += 1
    extra = cast(dict[str, Any], SpikeDetected.model_config["json_schema_extra"])
    example: dict[str, Any] = extra["examples"][0]
    for incident in scenario.incidents:
        alert = incident.started_at + dt.timedelta(minutes=30)
        detected = SpikeDetected.model_validate(
            example
            | {
                "incident_id": incident.incident_id,
                "incident_key": incident.incident_key,
                "category": incident.category,
                "waste_fraction": incident.waste_fraction,
                "district": incident.district,
                "first_seen_at": incident.started_at,
                "last_seen_at": alert,
                "detected_at": alert,
            }
        )
        resolved = SpikeResolved(
            incident_id=incident.incident_id,
            incident_key=incident.incident_key,
            category=incident.category,
            district=incident.district,
            detected_at=alert,
            resolved_at=incident.ended_at + dt.timedelta(minutes=30),
            total_calls=incident.calls,
            total_reports=incident.reports,
        )
        applies.append((f"spike-{incident.incident_id}", bind(service.apply_spike, detected)))
        applies.append((f"resolved-{incident.incident_id}", bind(service.apply_spike, resolved)))

    engine = create_engine(database_url)
    try:
        batcher = TransactionBatcher("stats", create_session_factory(engine), max_size=512)
        for i in range(0, len(applies), WINDOW):
            await asyncio.gather(*(batcher.submit(mid, apply) for mid, apply in applies[i : i + WINDOW]))
        await batcher.stop()
    finally:
        await engine.dispose()
    return {
        "calls": len(scenario.calls()),
        "reports": len(scenario.reports()),
        "workorders": len(orders),
        "status_changes": changes,
        "incidents": len(scenario.incidents),
    }


def _requests(year: int, incident_id: str | None, district: str, category: str) -> list[tuple[str, str]]:
    y = f"year={year}"
    out = [
        ("meta", "/api/stats/meta"),
        ("summary", f"/api/stats/summary?{y}"),
        ("series day", f"/api/stats/series?{y}&grain=day"),
        ("series week", f"/api/stats/series?{y}&grain=week"),
        ("series month", f"/api/stats/series?{y}&grain=month"),
        ("series hour", f"/api/stats/series?{y}&grain=hour"),
        ("calls per hour of day", f"/api/stats/calls/hours?{y}"),
        ("reports by category", f"/api/stats/reports?{y}&by=category"),
        ("reports by district", f"/api/stats/reports?{y}&by=district"),
        ("reports by channel", f"/api/stats/reports?{y}&by=channel"),
        ("reports by status", f"/api/stats/reports?{y}&by=status"),
        ("work orders by assignee", f"/api/stats/workorders?{y}&by=assignee"),
        ("work orders by assignee x category", f"/api/stats/workorders?{y}&by=assignee_category"),
        ("incidents", f"/api/stats/incidents?{y}"),
    ]
    if incident_id:
        out.append(("incident timeline", f"/api/stats/incidents/{incident_id}/timeline"))
    for name, query in (("district", f"district={district}"), ("category", f"category={category}")):
        out += [
            (f"summary, one {name}", f"/api/stats/summary?{y}&{query}"),
            (f"series day, one {name}", f"/api/stats/series?{y}&grain=day&{query}"),
            (f"calls per hour, one {name}", f"/api/stats/calls/hours?{y}&{query}"),
            (f"reports by category, one {name}", f"/api/stats/reports?{y}&by=category&{query}"),
            (f"work orders, one {name}", f"/api/stats/workorders?{y}&by=assignee&{query}"),
        ]
    return out


def _page(year: int, query: str = "") -> list[str]:
    """The seven requests app.js makes at once for a view (the timeline follows once incidents are in)."""
    q = f"year={year}{query}"
    return [
        f"/api/stats/summary?{q}",
        f"/api/stats/series?{q}&grain=day",
        f"/api/stats/calls/hours?{q}",
        f"/api/stats/reports?{q}&by=category",
        f"/api/stats/reports?{q}&by=district",
        f"/api/stats/workorders?{q}&by=assignee",
        f"/api/stats/incidents?{q}",
    ]


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered) * 1000, 1),
        "p95": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
    }


async def measure(database_url: str, year: int, runs: int) -> dict[str, Any]:
    """Time the requests against the statistics routes `hub serve` mounts, on their own FastAPI app so the
    filtered counts' memo can be emptied before each cold run."""
    settings = Settings(database_url=database_url)
    engine = create_engine(database_url, pool_size=10)
    api = StatsApi(
        sessions=create_session_factory(engine),
        calendar=CityCalendar.load(settings.domain.calendar_file),
        catalogue=Catalogue.load(settings.domain.categories_file, settings.domain.assignees_file),
    )
    app = FastAPI()
    install_error_handlers(app)
    provide(app, api)
    provide(app, api.sessions, as_type=async_sessionmaker)
    app.include_router(stats_http.router)
    results: dict[str, Any] = {}
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=120) as client:

            async def get(path: str) -> Any:
                response = await client.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
                return response.json()

            def forget() -> None:
                api.memo = FactMemo(api.sessions)

            incidents = (await get(f"/api/stats/incidents?year={year}"))["incidents"]
            incident_id = incidents[0]["incident_id"] if incidents else None
            summary = await get(f"/api/stats/summary?year={year}")
            orders = await get(f"/api/stats/workorders?year={year}")
            district = (await get(f"/api/stats/reports?year={year}&by=district"))["rows"][0]["key"]
            category = (await get(f"/api/stats/reports?year={year}&by=category"))["rows"][0]["key"]
            results["figures"] = {
                "calls": summary["calls"]["total"],
                "reports": summary["reports"]["total"],
                "workorders": orders["total"]["issued"],
                "incidents": summary["incidents"],
                "district": district,
                "category": category,
            }
            timings: dict[str, dict[str, float]] = {}
            for name, path in _requests(year, incident_id, district, category):
                await get(path)  # warm-up: connection pool, statement caches
                samples = []
                for _ in range(runs):
                    forget()  # every run counts its filtered facts afresh: the first view of a filter
                    started = time.perf_counter()
                    await get(path)
                    samples.append(time.perf_counter() - started)
                timings[name] = _ms(samples)
            results["requests"] = timings

            async def page_load(query: str, cold: bool) -> float:
                if cold:
                    forget()
                started = time.perf_counter()
                answers = await asyncio.gather(*(get(p) for p in _page(year, query)))
                found = answers[-1]["incidents"]
                if found:
                    await get(f"/api/stats/incidents/{found[0]['incident_id']}/timeline")
                return time.perf_counter() - started

            pages: dict[str, dict[str, float]] = {}
            for name, query, cold in (
                ("year", "", True),
                ("year, one district, first view", f"&district={district}", True),
                ("year, one district, again", f"&district={district}", False),
                ("year, one category, first view", f"&category={category}", True),
            ):
                await page_load(query, cold)
                pages[name] = _ms([await page_load(query, cold) for _ in range(runs)])
            results["page"] = pages
    finally:
        await engine.dispose()
    return results


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"year": args.year, "runs": args.runs}
    if args.reuse:
        database_url = args.reuse
        name = None
    else:
        name = f"hub_bench_dashboard_{uuid.uuid4().hex[:10]}"
        await _admin(args.database_url, f'CREATE DATABASE "{name}"')
        database_url = f"{args.database_url.rpartition('/')[0]}/{name}"
        engine = create_engine(database_url)
        await upgrade_schema(engine)
        await engine.dispose()
    try:
        if name is not None:
            log(f"filling {name} with {args.year} through the stats handler ...")
            started = time.perf_counter()
            out["filled"] = await fill_year(database_url, args.year)
            out["fill_seconds"] = round(time.perf_counter() - started, 1)
            log(f"filled in {out['fill_seconds']} s: {out['filled']}")
        out.update(await measure(database_url, args.year, args.runs))
    finally:
        if name is not None and not args.keep:
            await _admin(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        elif name is not None:
            log(f"kept: {database_url}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DB, help="admin URL of a PostgreSQL server")
    parser.add_argument("--reuse", metavar="URL", help="measure an already filled database instead")
    parser.add_argument("--year", type=int, default=2021)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per request (after one warm-up)")
    parser.add_argument("--keep", action="store_true", help="keep the filled database (for --reuse)")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))

    f = result["figures"]
    print(
        f"dashboard queries over {args.year} on PostgreSQL: {f['calls']:,} calls, {f['reports']:,} reports, "
        f"{f['workorders']:,} work orders, {f['incidents']} incidents; {args.runs} runs each, in ms"
    )
    print(f"{'request':<42}{'p50':>9}{'p95':>9}{'max':>9}")
    for name, t in result["requests"].items():
        print(f"{name:<42}{t['p50']:>9.1f}{t['p95']:>9.1f}{t['max']:>9.1f}")
    for name, t in result["page"].items():
        print(f"{'whole page load, ' + name:<42}{t['p50']:>9.1f}{t['p95']:>9.1f}{t['max']:>9.1f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

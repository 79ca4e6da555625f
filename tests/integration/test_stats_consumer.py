"""The statistics, driven through the broker: every call, report and work order counted exactly once.

End to end: the hub runs as a real process (`hub run stats`), a plain AMQP client publishes a simulated week
of the city's traffic with duplicates (and a year, with the consumer killed part-way), and the figures
`hub stats` prints are compared with the scenario's own counts. Integration: the handler fed in-process
through the batcher, for what a broker adds nothing to (two replicas racing on PostgreSQL, incidents).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import aio_pika
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.router.handler import RoutingService
from consumers.stats.aggregates import ALL, CALLS, REPORTS, WORKORDERS
from consumers.stats.api import StatsApi
from consumers.stats.cli import render
from consumers.stats.handler import StatsService, UnknownIncident
from consumers.stats.queries import Period, incident_timeline, incidents, reports_by_category_and_district, totals
from consumers.stats.rebuild import counter_snapshot, rebuild
from consumers.stats.report import GROUPINGS, Table, stats_table
from consumers.stats.schemas import PeriodParams, TimelineParams
from consumers.stats.workorders import WorkOrderFigures, workorder_figures
from contracts import (
    BroadcastChannel,
    CallLogged,
    Contract,
    IncidentBroadcast,
    ReportFiled,
    SpikeDetected,
    SpikeResolved,
    WorkOrderIssued,
    WorkOrderStatus,
    WorkOrderStatusApplied,
)
from hub.bootstrap import Domain
from hub.settings import Settings
from hub.simulator import SimEvent, publish, simulate, simulate_year
from hub.simulator.publisher import amqp_message
from infra import cloudevents
from infra.batcher import TransactionBatcher
from infra.db import create_engine, create_session_factory
from infra.topology import dead_letter_queue_name, workorder_routing_key
from tests.support import CitySystem, HubProcess, drain_queue

DOMAIN = Domain.load(Settings())
CALENDAR = DOMAIN.calendar
TZ = CALENDAR.tz
WEEK = Period(dt.date(2021, 3, 15), dt.date(2021, 3, 21))
STAT_TABLES = (
    "stat_calls",
    "stat_reports",
    "stat_workorders",
    "stat_workorder_events",
    "stat_incidents",
    "stat_counters",
)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


def hub_env(amqp_url: str, database_url: str) -> dict[str, str]:
    return {
        "HUB_AMQP_URL": amqp_url,
        "HUB_DATABASE_URL": database_url,
        "HUB_RETRY_DELAY_MS": "500",
        "HUB_LOG_LEVEL": "WARNING",
    }


async def table(
    sessions: async_sessionmaker[AsyncSession], period: Period, by: str | None, as_of: dt.date = dt.date(2021, 12, 31)
) -> Table:
    async with sessions() as session:
        return await stats_table(session, period, by, tz=TZ, as_of=as_of, calendar=CALENDAR)


def column(t: Table, name: str) -> dict[str, object]:
    """First column -> the named column, as the CLI prints them."""
    return {str(r[t.columns[0]]): r[name] for r in t.records()}


def figure(t: Table, name: str) -> object:
    return column(t, "value")[name]


async def total(sessions: async_sessionmaker[AsyncSession], metric: str, period: Period) -> int:
    async with sessions() as session:
        return sum(c.n for c in (await totals(session, metric, ALL, period, TZ)).values())


async def wait_until(
    sessions: async_sessionmaker[AsyncSession], metric: str, period: Period, n: int, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await total(sessions, metric, period) >= n:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"{metric}: {await total(sessions, metric, period)} of {n} counted within {timeout} s")


def local_day(moment: dt.datetime) -> str:
    return CALENDAR.local(moment).date().isoformat()


async def all_stat_text(sessions: async_sessionmaker[AsyncSession]) -> str:
    async with sessions() as session:
        chunks = []
        for name in STAT_TABLES:
            for row in await session.execute(text(f"SELECT * FROM {name}")):
                chunks.append(" ".join(str(v) for v in row))
    return "\n".join(chunks)


def personal_data(reports: Iterable[ReportFiled]) -> set[str]:
    out: set[str] = set()
    for report in reports:
        if report.reporter is not None:
            out |= {v for v in (report.reporter.name, report.reporter.phone, report.reporter.email) if v}
        if report.description:
            out.add(report.description)
    return out


async def assert_rebuild_changes_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        incremental = await counter_snapshot(session)
    result = await rebuild(sessions, TZ)
    async with sessions() as session:
        rebuilt = await counter_snapshot(session)
    assert result.counters == len(incremental) > 0
    assert rebuilt == incremental


def breakdowns_add_up(t_summary: Table, tables: dict[str, Table]) -> None:
    calls = figure(t_summary, "calls")
    reports = figure(t_summary, "reports")
    for by in ("topic", "subject", "outcome", "day", "week", "hour"):
        assert sum(column(tables[by], "calls").values()) == calls, by
    for by in ("category", "district", "channel", "status", "day", "week"):
        assert sum(column(tables[by], "reports").values()) == reports, by
    answered_at_once = sum(column(tables["topic"], "answered_at_once").values())
    assert answered_at_once == figure(t_summary, "calls answered at once")
    assert sum(column(tables["day"], "outside_hours").values()) == figure(t_summary, "calls outside opening hours")


def issued_with(report: ReportFiled) -> list[WorkOrderIssued]:
    """The router's work orders for a report, issued a minute after it was filed (the router's own clock would
    put them in the present, far from the simulated week)."""
    routing = RoutingService(
        DOMAIN.catalogue, DOMAIN.rules, DOMAIN.calendar, clock=lambda: report.filed_at + dt.timedelta(minutes=1)
    )
    return routing.work_orders(report)


async def send(city: CitySystem, message: Contract, routing_key: str, event_id: str | None) -> None:
    meta = cloudevents.meta_for(message, source="/city/test", event_id=event_id)
    await city.publish_raw(message.model_dump_json().encode(), routing_key, meta.id, cloudevents.amqp_headers(meta))


async def send_to_queue(amqp_url: str, message: aio_pika.Message) -> None:
    """Publish to `hub.stats` through the default exchange, as `hub dlq replay` does."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await channel.default_exchange.publish(message, routing_key="hub.stats", mandatory=True)


async def wait_for_rows(sessions: async_sessionmaker[AsyncSession], table_name: str, n: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        async with sessions() as session:
            if (await session.execute(text(f"SELECT count(*) FROM {table_name}"))).scalar_one() >= n:
                return
        await asyncio.sleep(0.2)
    raise AssertionError(f"fewer than {n} rows in {table_name}")


# --------------------------------------------------------------------------------------------------------
# End to end


@pytest.mark.e2e
async def test_a_week_with_duplicates_gives_the_scenarios_figures_exactly(
    clean_broker: str, database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    rng = random.Random()
    seed = rng.randrange(2**32)
    scenario = simulate(start=WEEK.first, days=7, seed=seed, incidents=1)
    calls, reports = scenario.calls(), scenario.reports()
    orders = {o.work_order_id: o for r in reports for o in issued_with(r)}
    # 5% of the messages again with the same event id (a city system retrying), and a few calls and reports
    # again under a NEW event id (a system that re-sends a record): neither may change a figure.
    # One call comes straight to the queue, as `hub dlq replay` sends it back; the rest through `city.events`.
    replayed = next(e for e in scenario.events if isinstance(e.message, CallLogged))
    published = [e for e in scenario.events if e is not replayed]
    again = rng.sample(published, len(published) // 20)
    resent = [dataclasses.replace(e, event_id=f"resent-{e.event_id}") for e in rng.sample(published, 10)]

    hub = HubProcess("stats", env=hub_env(clean_broker, database_url), log_path=tmp_path / "hub.log").start()
    try:
        await hub.wait_ready(clean_broker, "hub.stats")
        started = time.monotonic()
        await publish([*published, *again, *resent], amqp_url=clean_broker, source="/city/test")
        await send_to_queue(clean_broker, amqp_message(replayed, source="/city/test"))
        # A message of no type the statistics know, straight to the queue: dead-lettered, not guessed at.
        await send_to_queue(clean_broker, aio_pika.Message(b"{}", message_id=f"stray-{seed}", type="x.unknown.v1"))
        async with CitySystem(clean_broker) as city:
            # The router's work orders, as its outbox relay publishes them (message id = work order id), a few twice.
            for order in [*orders.values(), *rng.sample(list(orders.values()), 5)]:
                await send(city, order, workorder_routing_key(order.assignee), order.work_order_id)
        await wait_until(sessions, CALLS, WEEK, len(calls))
        await wait_until(sessions, REPORTS, WEEK, len(reports))
        await wait_until(sessions, WORKORDERS, Period.year(2021), len(orders))
        counted_in = time.monotonic() - started

        # Assignees report progress: some done on time, some late, some rejected, one change sent twice under
        # another message id, and one status message that breaks the contract.
        order_ids = sorted(orders)
        on_time, late, rejected = order_ids[:12], order_ids[12:17], order_ids[17:20]
        changes: list[tuple[str, WorkOrderStatus, dt.datetime]] = []
        for wid in on_time:  # two hours after the filing: completion runs from it (event time)
            filed = orders[wid].report_filed_at
            assert filed is not None
            changes.append((wid, WorkOrderStatus.IN_PROGRESS, filed + dt.timedelta(minutes=30)))
            changes.append((wid, WorkOrderStatus.DONE, filed + dt.timedelta(hours=2)))
        for wid in late:
            late_day = orders[wid].due_date + dt.timedelta(days=3)
            changes.append((wid, WorkOrderStatus.DONE, dt.datetime.combine(late_day, dt.time(12), tzinfo=TZ)))
        for wid in rejected:
            changes.append((wid, WorkOrderStatus.REJECTED, orders[wid].issued_at + dt.timedelta(days=1)))
        async with CitySystem(clean_broker) as city:
            for wid, status, at in [*changes, changes[-1]]:
                change = WorkOrderStatusApplied(
                    work_order_id=wid,
                    report_id=orders[wid].report_id,
                    assignee=orders[wid].assignee,
                    category=orders[wid].category,
                    previous_status=WorkOrderStatus.ISSUED,
                    status=status,
                    changed_at=at,
                    applied_at=at,
                )
                await send(city, change, change.routing_key, None)
            await city.publish_raw(
                json.dumps({"work_order_id": order_ids[0], "assignee": "x", "status": "teleported"}).encode(),
                "workorder.status.applied",
                f"poison-{seed}",
            )
        dead = await drain_queue(clean_broker, dead_letter_queue_name("stats"), expect=2, timeout=30)
        await wait_for_rows(sessions, "stat_workorder_events", len(changes))
    finally:
        assert hub.stop() == 0, hub.log_tail()
    assert sorted(dead.message_ids) == sorted([f"poison-{seed}", f"stray-{seed}"])

    # Every figure as the scenario says, whatever the duplicates.
    summary = await table(sessions, WEEK, None)
    tables = {by: await table(sessions, WEEK, by) for by in GROUPINGS if by != "assignee"}
    counts = scenario.counts()
    assert figure(summary, "calls") == len(calls)
    assert figure(summary, "reports") == len(reports)
    assert column(tables["topic"], "calls") == {k[12:]: v for k, v in counts.items() if k.startswith("calls.topic.")}
    assert column(tables["outcome"], "calls") == {
        k[14:]: v for k, v in counts.items() if k.startswith("calls.outcome.")
    }
    assert column(tables["subject"], "calls") == {
        k[14:]: v for k, v in counts.items() if k.startswith("calls.subject.")
    }
    assert column(tables["category"], "reports") == {
        k[17:]: v for k, v in counts.items() if k.startswith("reports.category.")
    }
    assert column(tables["channel"], "reports") == {
        k[16:]: v for k, v in counts.items() if k.startswith("reports.channel.")
    }
    per_day = Counter(local_day(c.started_at) for c in calls)
    assert {d: n for d, n in column(tables["day"], "calls").items() if n} == dict(per_day)
    assert {d: n for d, n in column(tables["day"], "reports").items() if n} == dict(
        Counter(local_day(r.filed_at) for r in reports)
    )
    answered = [c for c in calls if c.outcome.value != "abandoned"]
    assert figure(summary, "calls answered") == len(answered)
    assert figure(summary, "first-contact resolution %") == round(
        100 * sum(c.outcome.value == "answered_at_once" for c in calls) / len(answered), 1
    )
    assert figure(summary, "average handle time s") == round(
        sum(c.duration_seconds for c in answered) / len(answered), 1
    )
    assert figure(summary, "calls outside opening hours") == sum(not CALENDAR.is_open(c.started_at) for c in calls)
    breakdowns_add_up(summary, tables)
    async with sessions() as session:
        crossed = await reports_by_category_and_district(session, WEEK, TZ)
    assert crossed == dict(Counter((r.category, r.location.district) for r in reports))
    # The same figures for the whole year 2021 (read from the year counters, not the days).
    year = await table(sessions, Period.year(2021), None)
    assert column(year, "value") == column(summary, "value")
    assert column(await table(sessions, Period.year(2021), "topic"), "calls") == column(tables["topic"], "calls")

    # Work orders per assignee against their SLA (as of a day after all due dates: open ones are overdue).
    today = Period.year(2021)
    as_of = max(o.due_date for o in orders.values()) + dt.timedelta(days=1)
    async with sessions() as session:
        per_assignee = await workorder_figures(session, today, "assignee", tz=TZ, as_of=as_of)
    want = Counter(o.assignee for o in orders.values())
    assert {a: f.issued for a, f in per_assignee.items()} == dict(want)
    all_orders = await workorder_figures_all(sessions, today, as_of)
    assert (all_orders.done, all_orders.done_on_time, all_orders.rejected) == (17, 12, 3)
    assert all_orders.overdue == all_orders.open == len(orders) - 20
    assert all_orders.sla_compliance == pytest.approx(12 / (17 + all_orders.overdue))
    # 12 of the 17 done orders took two hours: the median.
    assert all_orders.median_completion_hours == pytest.approx(2.0)
    by_assignee = await table(sessions, today, "assignee", as_of=as_of)
    assert sum(column(by_assignee, "issued").values()) == len(orders)
    assert sum(column(by_assignee, "done_on_time").values()) == 12

    # Nothing personal in any statistics table.
    stored = await all_stat_text(sessions)
    leaked = [secret for secret in personal_data(reports) if secret in stored]
    assert not leaked, f"personal data in the statistics: {leaked[:3]}"

    await assert_rebuild_changes_nothing(sessions)
    # The CLI renders every grouping in every format.
    for by, t in tables.items():
        assert json.loads(render(t, "json", period=WEEK, by=by))["rows"] == t.records()
        assert render(t, "csv", period=WEEK, by=by).count("\n") == len(t.rows) + 1
        assert t.title in render(t, "table", period=WEEK, by=by)
    print(f"week: {len(scenario.events) + len(again) + len(resent)} messages counted in {counted_in:.1f} s")


async def workorder_figures_all(
    sessions: async_sessionmaker[AsyncSession], period: Period, as_of: dt.date
) -> WorkOrderFigures:
    async with sessions() as session:
        return (await workorder_figures(session, period, None, tz=TZ, as_of=as_of))[""]


# --------------------------------------------------------------------------------------------------------
# In-process: the handler through the batcher, as the subscriber calls it


def submissions(service: StatsService, events: Iterable[SimEvent]) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for event in events:
        message = event.message
        if isinstance(message, CallLogged):
            out.append((event.event_id, lambda s, m=message: service.apply_call(s, m)))
        else:
            out.append((event.event_id, lambda s, m=message: service.apply_report(s, m)))
    return out


async def feed(batcher: TransactionBatcher, items: list[tuple[str, object]], window: int = 1024) -> None:
    """Submit like a subscriber with `window` deliveries in flight."""
    for i in range(0, len(items), window):
        await asyncio.gather(*(batcher.submit(mid, apply) for mid, apply in items[i : i + window]))


@pytest.mark.integration
async def test_two_replicas_racing_on_the_same_messages_count_each_once(
    postgres_url: str,
) -> None:
    """Two consumers (two batchers, as two replicas would run) get overlapping deliveries at the same time:
    the atomic upserts in key order neither lose an update nor deadlock."""
    engine = create_engine(postgres_url)
    sessions = create_session_factory(engine)
    try:
        service = StatsService(CALENDAR)
        scenario = simulate(start=WEEK.first, days=7, seed=random.randrange(2**32))
        items = submissions(service, scenario.events)
        rng = random.Random(7)
        # Each replica gets about two thirds of the deliveries: a third of them reach both.
        a = [item for item in items if rng.random() < 0.67]
        in_a = {mid for mid, _ in a}
        b = [item for item in items if item[0] not in in_a or rng.random() < 0.5]
        rng.shuffle(b)
        replicas = [TransactionBatcher("stats", sessions, max_size=64) for _ in range(2)]
        await asyncio.gather(feed(replicas[0], a, 256), feed(replicas[1], b, 256))
        for replica in replicas:
            await replica.stop()
        assert await total(sessions, CALLS, WEEK) == len(scenario.calls())
        assert await total(sessions, REPORTS, WEEK) == len(scenario.reports())
        await assert_rebuild_changes_nothing(sessions)
    finally:
        await engine.dispose()


def spike(incident_id: str, detected_at: dt.datetime, **overrides: object) -> SpikeDetected:
    example = SpikeDetected.model_config["json_schema_extra"]["examples"][0]
    return SpikeDetected.model_validate(
        example
        | {
            "incident_id": incident_id,
            "detected_at": detected_at,
            "first_seen_at": detected_at - dt.timedelta(minutes=50),
            "last_seen_at": detected_at,
        }
        | overrides
    )


def broadcast(incident_id: str, at: dt.datetime) -> IncidentBroadcast:
    return IncidentBroadcast(incident_id=incident_id, broadcast_at=at, channels=[BroadcastChannel.WEBSITE])


@pytest.mark.integration
async def test_incidents_count_once_and_their_timeline_shows_the_drop(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    service = StatsService(CALENDAR)
    alert = dt.datetime(2021, 3, 15, 10, 3, tzinfo=TZ)
    district, category = "Brustem", "waste.missed_collection"
    calls = [
        CallLogged(
            call_id=f"c{i}", started_at=alert + dt.timedelta(minutes=m), duration_seconds=120, topic="report",
            subject=category, outcome="report_filed", district=district,
        )
        for i, m in enumerate([-50, -40, -20, -14, -10, -5, -1, 2, 6, 40, 200])
    ]  # fmt: skip
    elsewhere = CallLogged(
        call_id="c-elsewhere", started_at=alert, duration_seconds=60, topic="report", subject=category,
        outcome="report_filed", district="Velm",
    )  # fmt: skip
    report = ReportFiled.model_validate(
        {
            "report_id": "r1", "filed_at": alert - dt.timedelta(minutes=3), "channel": "web", "category": category,
            "waste_fraction": "residual", "location": {"street": "Stapelstraat", "postcode": "3800", "district": district},
        }
    )  # fmt: skip
    later = alert + dt.timedelta(days=20)
    messages: list[tuple[str, object]] = [
        *((f"m-{c.call_id}", lambda s, c=c: service.apply_call(s, c)) for c in [*calls, elsewhere]),
        ("m-r1", lambda s: service.apply_report(s, report)),
        ("s1", lambda s: service.apply_spike(s, spike("inc-1", alert))),
        # An update of the live alert and the resolution: the incident still counts once.
        ("s1-update", lambda s: service.apply_spike(s, spike("inc-1", alert, update=True, calls_in_window=20))),
        (
            "s1-resolved",
            lambda s: service.apply_spike(
                s,
                SpikeResolved(
                    incident_id="inc-1", incident_key="k", category=category, district=district,
                    detected_at=alert, resolved_at=alert + dt.timedelta(hours=3), total_calls=11, total_reports=1,
                ),
            ),
        ),
        # Another incident whose resolution arrives before its detection.
        (
            "s2-resolved",
            lambda s: service.apply_spike(
                s,
                SpikeResolved(
                    incident_id="inc-2", incident_key="k2", category="lighting.defect", district="Velm",
                    detected_at=later, resolved_at=later + dt.timedelta(hours=1), total_calls=5, total_reports=2,
                ),
            ),
        ),
        ("s2", lambda s: service.apply_spike(s, spike("inc-2", later, category="lighting.defect", district="Velm"))),
        # The communication team's notices: the earliest one is the broadcast, whatever order they come in.
        ("b1-late", lambda s: service.apply_broadcast(s, broadcast("inc-1", alert + dt.timedelta(minutes=50)))),
        ("b1", lambda s: service.apply_broadcast(s, broadcast("inc-1", alert + dt.timedelta(minutes=35)))),
        ("b1-again", lambda s: service.apply_broadcast(s, broadcast("inc-1", alert + dt.timedelta(minutes=35)))),
    ]  # fmt: skip
    batcher = TransactionBatcher("stats", sessions, max_size=4)
    for mid, apply in messages:  # in order: the resolution of inc-2 before its detection
        await batcher.submit(mid, apply)
    # A notice about an incident the statistics never saw is refused (retried by the broker, then dead-lettered).
    with pytest.raises(UnknownIncident, match="inc-typo"):
        await batcher.submit("b-typo", lambda s: service.apply_broadcast(s, broadcast("inc-typo", alert)))
    await batcher.stop()

    async with sessions() as session:
        found = await incidents(session, Period(dt.date(2021, 3, 1), dt.date(2021, 4, 30)), TZ)
        timeline = await incident_timeline(session, "inc-1", before=dt.timedelta(hours=1), after=dt.timedelta(hours=1))
    assert [i.incident_id for i in found] == ["inc-1", "inc-2"]
    first, second = found
    assert first.calls_in_window == 9  # the first detection's figures, not the update's
    assert first.resolved_at == alert + dt.timedelta(hours=3)
    assert first.total_calls == 11
    assert first.broadcast_at == alert + dt.timedelta(minutes=35)
    assert second.broadcast_at is None
    assert second.first_seen_at == later - dt.timedelta(minutes=50)
    assert second.resolved_at is not None
    assert timeline is not None
    assert timeline.step_minutes == 15
    assert [b.minutes_from_alert for b in timeline.buckets] == [-60, -45, -30, -15, 0, 15, 30, 45]
    assert [b.calls for b in timeline.buckets] == [1, 1, 1, 4, 2, 0, 1, 0]
    assert [b.reports for b in timeline.buckets] == [0, 0, 0, 1, 0, 0, 0, 0]
    assert timeline.incident.broadcast_at == alert + dt.timedelta(minutes=35)
    # What the notice (10:38) saved: 7 calls in the hour before it, so 21 expected in the 3 hours after; 2 came.
    api = StatsApi(sessions, CALENDAR, DOMAIN.catalogue)
    async with sessions() as session:
        listed = await api.incidents(session, PeriodParams.model_validate({"year": 2021}))
        shown = await api.timeline(session, "inc-1", TimelineParams())
    saved = listed.incidents[0].notice_saved
    assert saved is not None
    assert listed.incidents[1].notice_saved is None
    assert (saved.calls_before, saved.expected_calls, saved.calls_after, saved.calls_fewer) == (7, 21.0, 2, 19.0)
    assert (saved.low, saved.high) == (3.2, 34.8)  # 19 +- 1.96 sqrt(3^2 x 7 + 2)
    assert saved.text == "about 19 calls fewer than expected (95 % interval +3 to +35)"
    assert saved.window_to == alert + dt.timedelta(minutes=35 + 180)
    assert not saved.provisional
    assert shown is not None
    assert shown.incident.notice_saved == saved
    by_incident = await table(sessions, Period.year(2021), "incidents")
    assert column(by_incident, "fewer") == {"inc-1": 19.0, "inc-2": None}
    by_month = await table(sessions, Period(dt.date(2021, 3, 1), dt.date(2021, 4, 30)), "month")
    assert column(by_month, "spikes") == {"2021-03": 1, "2021-04": 1}
    assert column(await table(sessions, Period.year(2021), "category"), "spikes") == {
        category: 1,
        "lighting.defect": 1,
    }
    await assert_rebuild_changes_nothing(sessions)


@pytest.mark.e2e
async def test_a_year_through_the_broker_survives_a_killed_consumer(
    clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    """simulate_year(2021)'s calls published to a real hub process on PostgreSQL, killed (SIGKILL) part-way:
    after the restart `hub stats --year 2021` says exactly 30,080 (redelivered messages counted once)."""
    engine = create_engine(postgres_url)
    sessions = create_session_factory(engine)
    env = hub_env(clean_broker, postgres_url)
    calls = [e for e in simulate_year(2021).events if isinstance(e.message, CallLogged)]
    year = Period.year(2021)
    try:
        hub = HubProcess("stats", env=env, log_path=tmp_path / "hub.log").start()
        await hub.wait_ready(clean_broker, "hub.stats")
        started = time.monotonic()
        publishing = asyncio.create_task(publish(calls, amqp_url=clean_broker, source="/city/test"))
        await wait_until(sessions, CALLS, year, 6_000)
        hub.kill()
        counted_at_kill = await total(sessions, CALLS, year)
        hub = HubProcess("stats", env=env, log_path=tmp_path / "hub.log").start()
        try:
            assert await publishing == len(calls)
            published_in = time.monotonic() - started
            await wait_until(sessions, CALLS, year, 30_080, timeout=180)
            counted_in = time.monotonic() - started
        finally:
            assert hub.stop() == 0, hub.log_tail()
        assert counted_at_kill < 30_080, "the kill came too late to test anything"
        # What a year's dashboard asks: the summary and the groupings it charts, as `hub stats --year 2021` does.
        timings = {}
        tables = {}
        for by in (None, "month", "week", "day", "hour", "topic", "outcome"):
            started = time.monotonic()
            tables[by] = await table(sessions, year, by)
            timings[by or "summary"] = round((time.monotonic() - started) * 1000)
        assert figure(tables[None], "calls") == 30_080
        for by in ("month", "week", "day", "hour", "topic", "outcome"):
            assert sum(column(tables[by], "calls").values()) == 30_080, by
        started = time.monotonic()
        await assert_rebuild_changes_nothing(sessions)
        rebuilt_in = time.monotonic() - started
        print(
            f"year via broker: published in {published_in:.1f} s, all 30,080 counted after {counted_in:.1f} s "
            f"(killed at {counted_at_kill:,}); queries ms {timings}; rebuild and compare {rebuilt_in:.1f} s"
        )
    finally:
        await engine.dispose()

"""The spikes consumer's transaction on a real database, fed in-process through the batcher (no broker needed).

* on SQLite and PostgreSQL alike, the consumer decides exactly what the pure engine decides on the same
  events, stores the counts the engine counts, and fills each alert from the database (streets, ids, times);
* redeliveries (same message id) and the same call or report under a new message id change nothing;
* two replicas on PostgreSQL, fed concurrently, emit each `SpikeDetected` and `SpikeResolved` once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from functools import partial

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.spikes.engine import EngineState, MemoryCounts, SpikeEngine
from consumers.spikes.handler import SpikesService
from consumers.spikes.lifecycle import Fire, Resolve, Suppress, Update
from consumers.spikes.tables import Alert, SpikeCount
from contracts import CallLogged, SpikeDetected, WorkOrderIssued
from hub.simulator import SimEvent
from infra.batcher import TransactionBatcher
from infra.db import create_engine, create_session_factory
from infra.db.tables import OutboxMessage
from tests.spikes_support import (
    CALENDAR,
    CATALOGUE,
    CONFIG,
    TZ,
    burst,
    observations,
    ordinary_traffic,
    quiet_ticks,
)

pytestmark = pytest.mark.integration

WARMUP = dt.timedelta(days=7)
START = dt.datetime(2021, 3, 10, 10, 0, tzinfo=TZ)
INCIDENT = "inc-waste.missed_collection-kerkom-2021-03-10T1000"


@pytest.fixture(scope="module")
def events() -> list[SimEvent]:
    """Nine days of ordinary traffic, a burst in Kerkom, then quiet calls that carry event time past the quiet period."""
    out = ordinary_traffic(dt.date(2021, 3, 1), 9, seed=11)
    out += burst(START, run="consumer")
    out += quiet_ticks(START + dt.timedelta(minutes=20), [5, 6], run="consumer")
    return sorted(out, key=lambda e: e.at)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


def service() -> SpikesService:
    return SpikesService(CONFIG, CATALOGUE, CALENDAR, warmup=WARMUP)


async def submit(
    batcher: TransactionBatcher, svc: SpikesService, event: SimEvent, message_id: str | None = None
) -> None:
    mid = message_id or event.event_id
    message = event.message
    if isinstance(message, CallLogged):
        await batcher.submit(mid, lambda s: svc.apply_call(s, message, mid))
    else:
        await batcher.submit(mid, lambda s: svc.apply_report(s, message, mid))


async def feed(replicas: Sequence[tuple[TransactionBatcher, SpikesService]], events: Sequence[SimEvent], *,
               chunk: int = 200, seed: int = 0) -> None:  # fmt: skip
    """Event-time order chunk by chunk (as a queue delivers a live stream), concurrently within a chunk."""
    rng = random.Random(seed)
    for i in range(0, len(events), chunk):
        await asyncio.gather(*(submit(*rng.choice(replicas), e) for e in events[i : i + chunk]))


async def alert_rows(sessions: async_sessionmaker[AsyncSession]) -> list[Alert]:
    async with sessions() as session:
        return list((await session.execute(select(Alert).order_by(Alert.id))).scalars())


async def outbox_ids(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        return list((await session.execute(select(OutboxMessage.message_id).order_by(OutboxMessage.id))).scalars())


def expected_rows(events: Sequence[SimEvent]) -> list[tuple[str, str, dt.datetime]]:
    """(kind, incident id, event time) of every action the pure engine takes on the same events."""
    engine = SpikeEngine(CONFIG, closed_day=CALENDAR.is_public_holiday, warmup=WARMUP)
    out = []
    for action in engine.process(EngineState.new(CONFIG), observations(events), MemoryCounts()):
        if isinstance(action, Fire):
            kind = "detected"
        elif isinstance(action, Update):
            kind = "update"
        elif isinstance(action, Resolve):
            kind = "resolved"
        else:
            assert isinstance(action, Suppress)
            kind = f"suppressed-{action.kind}"
        out.append((kind, action.incident.incident_id, action.incident.at.astimezone(dt.UTC)))
    return out


def aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


async def test_the_consumer_decides_what_the_pure_engine_decides_and_fills_the_alert_from_the_database(
    sessions: async_sessionmaker[AsyncSession], events: list[SimEvent]
) -> None:
    svc = service()
    batcher = TransactionBatcher("spikes", sessions, max_size=128)
    # The router's work orders for the burst's reports: the alert names who was already notified.
    example = WorkOrderIssued.model_json_schema()["examples"][0]
    for e in events:
        if e.message.routing_key == "report.filed" and e.at >= START:
            order = WorkOrderIssued.model_validate(
                example | {"report_id": e.subject, "assignee": "waste_company", "work_order_id": f"wo-{e.subject}"}
            )
            await batcher.submit(f"wo-{e.subject}", partial(svc.apply_workorder, order=order))
    await feed([(batcher, svc)], events)
    await batcher.stop()

    rows = await alert_rows(sessions)
    assert [(r.kind, r.incident_id, aware(r.event_at)) for r in rows] == expected_rows(events)
    assert Counter(r.kind for r in rows)["detected"] == 1
    assert [r.alert_id for r in rows if r.state == "sent"] == await outbox_ids(sessions)
    assert f"{INCIDENT}/detected/1" in await outbox_ids(sessions)
    assert f"{INCIDENT}/resolved/1" in await outbox_ids(sessions)

    # The counts table holds what the in-memory reference counts.
    reference = MemoryCounts()
    for o in observations(events):
        reference.add(o.increments)
    async with sessions() as session:
        stored = (await session.execute(select(func.sum(SpikeCount.calls), func.sum(SpikeCount.reports)))).one()
    counted = [b for key in reference.table.keys() for b in reference.table.buckets(key).values()]  # noqa: SIM118
    assert tuple(stored) == (sum(b.calls for b in counted), sum(b.reports for b in counted))

    detected = next(r for r in rows if r.kind == "detected")
    assert detected.body is not None
    alert = SpikeDetected.model_validate_json(detected.body)
    burst_reports = sorted(e.subject for e in events if e.message.routing_key == "report.filed" and e.at >= START)
    assert alert.first_seen_at == START
    assert alert.last_seen_at <= alert.detected_at
    assert set(alert.affected_streets) == {"Kerkomstraat", "Bergstraat"}
    assert alert.sample_report_ids
    assert set(alert.sample_report_ids) <= set(burst_reports)
    assert alert.waste_fraction == "residual"
    assert alert.assignees_notified == ["waste_company"]
    assert "restafval" in alert.draft_nl
    assert "Kerkom" in alert.draft_nl
    assert "waste company has been informed" in alert.draft_en


async def test_redeliveries_and_republished_messages_change_nothing(
    sessions: async_sessionmaker[AsyncSession], events: list[SimEvent]
) -> None:
    svc = service()
    batcher = TransactionBatcher("spikes", sessions, max_size=64)
    await feed([(batcher, svc)], events)
    async with sessions() as session:
        before = (await session.execute(select(func.sum(SpikeCount.calls), func.sum(SpikeCount.reports)))).one()
    alerts_before = [r.alert_id for r in await alert_rows(sessions)]
    tail = [e for e in events if e.at >= START]
    # The same deliveries again (a redelivery after a lost ack), and the same calls and reports under new
    # message ids (a city system that re-sends with a fresh id).
    await asyncio.gather(*(submit(batcher, svc, e) for e in tail))
    await asyncio.gather(*(submit(batcher, svc, e, message_id=f"again-{e.event_id}") for e in tail))
    await batcher.stop()
    async with sessions() as session:
        after = (await session.execute(select(func.sum(SpikeCount.calls), func.sum(SpikeCount.reports)))).one()
    assert tuple(after) == tuple(before)
    assert [r.alert_id for r in await alert_rows(sessions)] == alerts_before


async def test_two_replicas_on_postgresql_emit_each_alert_once(postgres_url: str, events: list[SimEvent]) -> None:
    # Two engines, two pools: two processes as far as PostgreSQL can tell.
    engines = [create_engine(postgres_url, pool_size=4) for _ in range(2)]
    replicas = [(TransactionBatcher("spikes", create_session_factory(e), max_size=32), service()) for e in engines]
    try:
        await feed(replicas, events, chunk=300, seed=5)
        for batcher, _ in replicas:
            await batcher.stop()
        sessions = create_session_factory(engines[0])
        rows = await alert_rows(sessions)
        sent = await outbox_ids(sessions)
    finally:
        for e in engines:
            await e.dispose()
    assert len(sent) == len(set(sent))
    assert [i for i in sent if "/detected/" in i or "/resolved/" in i] == [
        f"{INCIDENT}/detected/1",
        f"{INCIDENT}/resolved/1",
    ]
    assert sorted({(r.kind, r.incident_id) for r in rows if r.kind in ("detected", "resolved")}) == sorted(
        {(k, i) for k, i, _ in expected_rows(events) if k in ("detected", "resolved")}
    )
    assert all(b.committed > 0 for b, _ in replicas), "both replicas took part"


async def test_a_fresh_hub_alerts_at_once_and_the_timer_resolves_on_the_wall_clock(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # No history at all: the prior judges. Live: event time keeps up with the (fake) wall clock.
    now = [dt.datetime.now(dt.UTC).replace(microsecond=0)]
    svc = SpikesService(CONFIG, CATALOGUE, CALENDAR, clock=lambda: now[0])
    batcher = TransactionBatcher("spikes", sessions, max_size=64)
    start = now[0] - dt.timedelta(minutes=20)
    await feed([(batcher, svc)], burst(start, run="live"))
    await batcher.stop()
    rows = await alert_rows(sessions)
    assert [r.kind for r in rows] == ["detected"]
    quiet = dt.timedelta(minutes=CONFIG.for_category("waste.missed_collection").quiet_minutes)
    last = start + dt.timedelta(minutes=20)  # the burst's last contact

    now[0] = last + quiet - dt.timedelta(minutes=2)
    await svc.tick(batcher)
    rows = await alert_rows(sessions)
    # The update is on the timer too: due once the interval passed, the count having grown since the fire.
    assert [r.kind for r in rows] == ["detected", "update"]  # not resolved yet
    interval = dt.timedelta(minutes=CONFIG.for_category("waste.missed_collection").update_interval_minutes)
    assert aware(rows[1].event_at) <= aware(rows[0].event_at) + interval + dt.timedelta(minutes=1)
    now[0] = last + quiet + dt.timedelta(seconds=90)
    await svc.tick(batcher)
    await svc.tick(batcher)  # a second replica's tick, or the next round: nothing more
    rows = await alert_rows(sessions)
    assert [r.kind for r in rows] == ["detected", "update", "resolved"]
    resolved = rows[2]
    assert resolved.resolved_at is not None
    assert aware(resolved.resolved_at) <= last + quiet + dt.timedelta(minutes=1)
    assert aware(resolved.event_at) <= now[0]


async def test_the_timer_leaves_a_replay_of_the_past_to_its_messages(
    sessions: async_sessionmaker[AsyncSession], events: list[SimEvent]
) -> None:
    svc = SpikesService(CONFIG, CATALOGUE, CALENDAR)  # the real clock: 2021 is long past
    batcher = TransactionBatcher("spikes", sessions, max_size=128)
    await feed([(batcher, svc)], [e for e in events if e.at < START + dt.timedelta(minutes=30)])
    await batcher.stop()
    assert [r.kind for r in await alert_rows(sessions)] == ["detected"]
    await svc.tick(batcher)  # replaying: the timer does not move event time to 2026
    assert [r.kind for r in await alert_rows(sessions)] == ["detected"]

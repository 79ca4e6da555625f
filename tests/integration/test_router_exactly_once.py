"""The foundation's promise, driven only through the broker: one work order per (report, assignee), exactly once.

The hub runs as a real process (`hub run router`); a plain AMQP client publishes as a city system would.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from consumers.router.handler import RoutingService
from consumers.router.tables import Report, WorkOrder
from consumers.stats.tables import StatReport, StatWorkOrder
from contracts import ReportFiled
from hub.bootstrap import Domain
from hub.settings import Settings
from infra.db import create_engine, create_session_factory
from infra.db.base import Base
from infra.topology import dead_letter_queue_name, workorder_queue_name
from tests.support import CitySystem, HubProcess, drain_queue, make_report

pytestmark = pytest.mark.e2e

DOMAIN = Domain.load(Settings())
ROUTING = RoutingService(DOMAIN.catalogue, DOMAIN.rules, DOMAIN.calendar)


def expected_orders(reports: list[ReportFiled]) -> dict[str, tuple[str, str]]:
    """work order id -> (assignee, due date) as the rules and SLAs say."""
    out: dict[str, tuple[str, str]] = {}
    for report in reports:
        for order in ROUTING.work_orders(report):
            out[order.work_order_id] = (order.assignee, order.due_date.isoformat())
    return out


async def count_of(database_url: str, *models: type[Base]) -> tuple[int, ...]:
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    try:
        async with sessions() as session:
            counts = [(await session.execute(select(func.count()).select_from(model))).scalar_one() for model in models]
            return tuple(int(n) for n in counts)
    finally:
        await engine.dispose()


async def count_rows(database_url: str) -> tuple[int, int]:
    reports, orders = await count_of(database_url, Report, WorkOrder)
    return reports, orders


async def wait_for(database_url: str, reports: int, timeout: float = 120) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        n, _ = await count_rows(database_url)
        if n >= reports:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"only {(await count_rows(database_url))[0]} of {reports} reports routed within {timeout}s")


async def drain_work_orders(amqp_url: str, expected: dict[str, tuple[str, str]]) -> dict[str, list[dict[str, object]]]:
    per_queue: dict[str, list[dict[str, object]]] = {}
    wanted = Counter(assignee for assignee, _ in expected.values())
    for assignee in DOMAIN.catalogue.assignees:
        drained = await drain_queue(
            amqp_url, workorder_queue_name(assignee), expect=wanted.get(assignee, 0), timeout=60, settle=0.5
        )
        per_queue[assignee] = drained.bodies
    return per_queue


def hub_env(amqp_url: str, database_url: str, log_level: str = "WARNING") -> dict[str, str]:
    return {
        "HUB_AMQP_URL": amqp_url,
        "HUB_DATABASE_URL": database_url,
        "HUB_RETRY_DELAY_MS": "500",
        "HUB_LOG_LEVEL": log_level,
    }


async def test_500_reports_with_duplicates_and_poison_give_exactly_one_work_order_each(
    clean_broker: str, database_url: str, tmp_path: Path
) -> None:
    rng = random.Random(500)
    run = uuid.uuid4().hex[:8]
    reports = [make_report(rng, i, run=run) for i in range(500)]
    expected = expected_orders(reports)
    # INFO: one log line per delivery, so the scan below reads every line the hub writes about a message.
    hub = HubProcess("router", env=hub_env(clean_broker, database_url, "INFO"), log_path=tmp_path / "hub.log").start()
    await hub.wait_ready(clean_broker)
    try:
        async with CitySystem(clean_broker) as city:
            event_ids = [await city.publish_report(r) for r in reports]
            # 50 reports published twice with the same message id (a retrying city system) ...
            for i in rng.sample(range(500), 50):
                await city.publish_report(reports[i], event_id=event_ids[i])
            # ... and three poison messages in the middle of the stream.
            await city.publish_raw(b'{"report_id": "broken', "report.filed", f"poison-json-{run}")
            await city.publish_raw(b'{"report_id": "x", "channel": "phone"}', "report.filed", f"poison-schema-{run}")
            bad_enum = reports[0].model_dump(mode="json") | {"report_id": f"rep-{run}-enum", "channel": "fax"}
            await city.publish_raw(json.dumps(bad_enum).encode(), "report.filed", f"poison-enum-{run}")
        await wait_for(database_url, 500)
        per_queue = await drain_work_orders(clean_broker, expected)
        dead = await drain_queue(clean_broker, dead_letter_queue_name("router"), expect=3, timeout=30)
    finally:
        assert hub.stop() == 0, (tmp_path / "hub.log").read_text()[-3000:]

    got = [(b["work_order_id"], assignee, b["due_date"]) for assignee, bodies in per_queue.items() for b in bodies]
    ids = [g[0] for g in got]
    assert len(ids) == len(set(ids)), "a work order was delivered twice"
    assert {g[0]: (g[1], g[2]) for g in got} == expected
    assert await count_rows(database_url) == (500, len(expected))

    assert sorted(dead.message_ids) == sorted([f"poison-json-{run}", f"poison-schema-{run}", f"poison-enum-{run}"])
    reasons = {
        h["x-hub-error"] if isinstance(h["x-hub-error"], str) else h["x-hub-error"].decode() for h in dead.headers
    }
    assert any(r.startswith("broken JSON") or "Invalid JSON" in r for r in reasons), reasons
    assert any("location: Field required" in r for r in reasons), reasons
    assert any("channel: Input should be" in r for r in reasons), reasons
    # Reasons never echo the input: no citizen data in the dead-letter headers, nor in the hub's log.
    assert not any("example.be" in r or "Testpersoon" in r for r in reasons)
    log = (tmp_path / "hub.log").read_text()
    assert log.count('"delivery handled"') >= 500
    for report in reports:
        assert report.reporter is not None
        for personal in (report.reporter.name, report.reporter.phone, str(report.reporter.email)):
            assert personal not in log


async def test_killed_consumer_restarts_without_losing_or_duplicating(
    clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    rng = random.Random(1000)
    run = uuid.uuid4().hex[:8]
    reports = [make_report(rng, i, run=run) for i in range(1000)]
    expected = expected_orders(reports)
    env = hub_env(clean_broker, postgres_url)
    async with CitySystem(clean_broker) as city:
        hub = HubProcess("router", env=env, log_path=tmp_path / "hub.log").start()
        await hub.wait_ready(clean_broker)
        await asyncio.gather(*(city.publish_report(r) for r in reports))
        # Kill it mid-stream, while it is committing batches and acking.
        await wait_for(postgres_url, 150)
        hub.kill()
        routed_at_kill, _ = await count_rows(postgres_url)
        hub = HubProcess("router", env=env, log_path=tmp_path / "hub.log").start()
        try:
            await wait_for(postgres_url, 1000)
            per_queue = await drain_work_orders(clean_broker, expected)
        finally:
            assert hub.stop() == 0
    assert routed_at_kill < 1000, "the kill came too late to test anything"
    assert await count_rows(postgres_url) == (1000, len(expected))
    delivered = [(b["work_order_id"], a) for a, bodies in per_queue.items() for b in bodies]
    # Every work order arrived; a copy can only be the relay's at-least-once re-publish, with the same id.
    assert {wid for wid, _ in delivered} == set(expected)
    assert all(expected[wid][0] == assignee for wid, assignee in delivered)


async def count_stats(database_url: str) -> tuple[int, int]:
    reports, orders = await count_of(database_url, StatReport, StatWorkOrder)
    return reports, orders


@pytest.mark.parametrize(
    "crash_at",
    ["router:before_commit", "router:after_commit", "stats:before_commit", "stats:after_commit"],
)
async def test_killed_at_the_commit_boundary_loses_and_duplicates_nothing(
    crash_at: str, clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    """Reliability test 1: SIGKILL just before one consumer's database commit, or after it but before the acks."""
    rng = random.Random(1001)
    run = uuid.uuid4().hex[:8]
    reports = [make_report(rng, i, run=run) for i in range(1000)]
    expected = expected_orders(reports)
    # A short sweep: rows committed by the killed process, never handed to its relay, go out soon after restart.
    env = hub_env(clean_broker, postgres_url) | {"HUB_RELAY_SWEEP_AFTER_S": "2"}
    async with CitySystem(clean_broker) as city:
        doomed = HubProcess(
            "router",
            "stats",
            env=env | {"HUB_TEST_CRASH_AT": f"{crash_at}:3"},
            log_path=tmp_path / "hub.log",
            module="tests.crash_at_commit",
        ).start()
        await doomed.wait_ready(clean_broker)
        await asyncio.gather(*(city.publish_report(r) for r in reports))
        assert doomed.proc is not None
        returncode = await asyncio.to_thread(doomed.proc.wait, 120)
        assert returncode == -9, f"the hub was to kill itself at {crash_at}, exited {returncode}"
        at_kill = await count_rows(postgres_url), await count_stats(postgres_url)
        hub = HubProcess("router", "stats", env=env, log_path=tmp_path / "hub.log").start()
        try:
            await wait_for(postgres_url, 1000)
            per_queue = await drain_work_orders(clean_broker, expected)

            async def counted() -> bool:
                return await count_stats(postgres_url) == (1000, len(expected))

            deadline = asyncio.get_running_loop().time() + 60
            while not await counted():
                assert asyncio.get_running_loop().time() < deadline, await count_stats(postgres_url)
                await asyncio.sleep(0.25)
        finally:
            assert hub.stop() == 0
    (routed, _), (counted_reports, _) = at_kill
    assert routed < 1000 or counted_reports < 1000, "the kill came too late to test anything"
    assert await count_rows(postgres_url) == (1000, len(expected))
    assert await count_stats(postgres_url) == (1000, len(expected))  # statistics count each report once
    delivered = [(b["work_order_id"], a) for a, bodies in per_queue.items() for b in bodies]
    assert {wid for wid, _ in delivered} == set(expected)
    assert all(expected[wid][0] == assignee for wid, assignee in delivered)

"""Metrics, scraped for real: a `hub run` process and `hub serve`, each on a free port, parsed as Prometheus does."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.metadata
import os
import platform
import random
import socket
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from consumers.contractors.tables import DeliveryEndpoint
from consumers.router.handler import RoutingService
from hub.bootstrap import Domain
from hub.settings import Settings
from tests.support import ROOT, CitySystem, HubProcess, make_report

pytestmark = pytest.mark.e2e

DOMAIN = Domain.load(Settings())
ROUTING = RoutingService(DOMAIN.catalogue, DOMAIN.rules, DOMAIN.calendar)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def scrape(port: int) -> Samples:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def until(port: int, check: Callable[[Samples], bool], what: str, timeout: float = 30) -> Samples:
    deadline = time.monotonic() + timeout
    samples: Samples = {}
    while time.monotonic() < deadline:
        try:
            samples = await scrape(port)
        except httpx.HTTPError:
            samples = {}
        if samples and check(samples):
            return samples
        await asyncio.sleep(0.2)
    shown = {k: v for k, v in samples.items() if k[0].startswith("hub_")}
    raise AssertionError(f"{what} not seen within {timeout}s; last hub_* samples: {shown}")


def assert_build_and_process(s: Samples) -> None:
    """The build (the installed version, written once in pyproject.toml) and the process's own metrics."""
    build = [dict(labels) for (name, labels), v in s.items() if name == "hub_build_info" and v == 1]
    assert build == [{"version": importlib.metadata.version("city-contact-hub"), "python": platform.python_version()}]
    assert (value(s, "process_resident_memory_bytes") or 0) > 10_000_000
    assert (value(s, "process_start_time_seconds") or 0) > time.time() - 600
    assert value(s, "process_cpu_seconds_total") is not None
    assert total(s, "python_info") == 1


async def test_hub_run_and_hub_serve_metrics_count_what_happened(
    clean_broker: str, sqlite_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    rng = random.Random(6)
    reports = [make_report(rng, i, run=run) for i in range(5)]
    orders = [order for report in reports for order in ROUTING.work_orders(report)]
    run_port, serve_port = free_port(), free_port()
    env = {
        "HUB_AMQP_URL": clean_broker,
        "HUB_DATABASE_URL": sqlite_url,
        "HUB_RETRY_DELAY_MS": "500",
        "HUB_LOG_LEVEL": "WARNING",
        "HUB_METRICS_PORT": str(run_port),
        "HUB_METRICS_HOST": "127.0.0.1",
        "HUB_METRICS_SAMPLE_INTERVAL_S": "0.2",
        "HUB_METRICS_FASTSTREAM": "true",  # FastStream's own metrics, opt-in
    }
    hub = HubProcess("router", "stats", env=env, log_path=tmp_path / "hub.log").start()
    serve: asyncio.subprocess.Process | None = None
    try:
        await hub.wait_ready(clean_broker)
        await hub.wait_ready(clean_broker, queue="hub.stats")
        async with CitySystem(clean_broker) as city:
            ids = [await city.publish_report(r) for r in reports]
            await city.publish_report(reports[1], event_id=ids[1])  # the same message again: ok, changes nothing
            await city.publish_raw(b'{"report_id": "broken', "report.filed", f"poison-{run}")

        # The router takes the reports; the statistics take them and the work orders the router issued.
        handled = {"router": 6, "stats": 6 + len(orders)}

        def settled(s: Samples) -> bool:
            return (
                all(
                    value(s, "hub_deliveries_total", consumer=c, outcome="ok") == n
                    and value(s, "hub_deliveries_total", consumer=c, outcome="dead_lettered") == 1
                    for c, n in handled.items()
                )
                and value(s, "hub_outbox_published_total") == len(orders)
                and value(s, "hub_outbox_backlog") == 0
            )

        s = await until(run_port, settled, "every delivery counted per consumer and outcome, work orders published")
        for consumer, n in handled.items():
            assert value(s, "hub_deliveries_total", consumer=consumer, outcome="retried") == 0
            assert value(s, "hub_delivery_duration_seconds_count", consumer=consumer) == n + 1
            assert (value(s, "hub_delivery_duration_seconds_sum", consumer=consumer) or 0) > 0
        issued = {a: value(s, "hub_workorders_issued_total", assignee=a) for a in DOMAIN.catalogue.assignees}
        assert issued == {a: float(sum(o.assignee == a for o in orders)) for a in DOMAIN.catalogue.assignees}
        assert value(s, "hub_outbox_failed_total") == 0
        assert total(s, "hub_alerts_raised_total") == 0
        assert value(s, "hub_alerts_raised_total", kind="detected") == 0  # present at zero, not missing
        # FastStream's middleware: every delivery of both subscribers of `report.filed`, by processing status.
        assert total(s, "faststream_received_messages_total", handler="city.events.report.filed") == 14
        assert total(s, "faststream_received_processed_messages_total", handler="city.events.report.filed") == 14
        assert (
            total(
                s, "faststream_received_processed_messages_duration_seconds_count", handler="city.events.report.filed"
            )
            == 14
        )
        # The dead-lettering publishes went through the broker and its middleware too.
        assert total(s, "faststream_published_messages_total", destination="hub.dead.hub.router", status="success") == 1
        assert_build_and_process(s)
        assert value(s, "hub_contact_center_open") == float(DOMAIN.calendar.is_open(dt.datetime.now(dt.UTC)))

        # An endpoint whose circuit opened (as the deliveries consumer records it), and one disabled by 410 Gone.
        engine = create_async_engine(sqlite_url)
        now = dt.datetime.now(dt.UTC)
        async with engine.begin() as connection:
            await connection.execute(
                insert(DeliveryEndpoint),
                [
                    {
                        "assignee": "waste_company",
                        "consecutive_failures": 50,
                        "open_until": now + dt.timedelta(hours=1),
                        "disabled_at": None,
                        "disabled_reason": None,
                        "updated_at": now,
                    },
                    {
                        "assignee": "grid_operator",
                        "consecutive_failures": 0,
                        "open_until": None,
                        "disabled_at": now,
                        "disabled_reason": "410",
                        "updated_at": now,
                    },
                ],
            )
        await engine.dispose()

        with (tmp_path / "serve.log").open("ab") as serve_log:
            serve = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "hub.cli",
                "serve",
                "--port",
                str(serve_port),
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=serve_log,
                stderr=asyncio.subprocess.STDOUT,
            )
        per_queue = {a: sum(o.assignee == a for o in orders) for a in DOMAIN.catalogue.assignees}

        def sampled(s: Samples) -> bool:
            return value(s, "hub_queue_messages", queue="hub.router.dlq") == 1

        s = await until(serve_port, sampled, "hub serve's queue sample", timeout=60)
        assert value(s, "hub_broker_up") == 1
        assert value(s, "hub_database_up") == 1
        assert value(s, "hub_outbox_backlog") == 0
        assert value(s, "hub_queue_messages", queue="hub.stats.dlq") == 1
        for consumer in ("router", "stats"):
            assert value(s, "hub_queue_consumers", queue=f"hub.{consumer}") == 1
            assert value(s, "hub_queue_messages", queue=f"hub.{consumer}") == 0
            assert value(s, "hub_queue_messages", queue=f"hub.{consumer}.retry") == 0
        # Nobody reads the assignees' queues in this test: the work orders wait there.
        for assignee, n in per_queue.items():
            assert value(s, "hub_queue_messages", queue=f"workorders.{assignee}") == n, assignee
            assert value(s, "hub_queue_consumers", queue=f"workorders.{assignee}") == 0
        # Consumers this process does not run were never declared: absent, not zero.
        assert value(s, "hub_queue_messages", queue="hub.spikes") is None
        assert_build_and_process(s)
        assert value(s, "hub_delivery_endpoint_circuit_open", assignee="waste_company") == 1
        assert value(s, "hub_delivery_endpoint_disabled", assignee="waste_company") == 0
        assert value(s, "hub_delivery_endpoint_circuit_open", assignee="grid_operator") == 0
        assert value(s, "hub_delivery_endpoint_disabled", assignee="grid_operator") == 1
    finally:
        if serve is not None:
            serve.terminate()
            await asyncio.wait_for(serve.wait(), timeout=30)
        assert hub.stop() == 0, hub.log_tail()

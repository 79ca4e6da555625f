"""Fault tests on the machine's real services: the broker restarts, the database goes away for 30 s.

They stop and start the real RabbitMQ and PostgreSQL of this machine (`rabbitmqctl`, `pg_ctlcluster`), so
they run only where those commands manage the services the tests use; elsewhere they fail and say why.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import uuid
from pathlib import Path

import aio_pika
import pytest

from contracts import ReportFiled
from infra import cloudevents
from tests.integration.test_router_exactly_once import count_rows, drain_work_orders, expected_orders, hub_env, wait_for
from tests.support import HubProcess, make_report

pytestmark = [pytest.mark.e2e, pytest.mark.serial]


def _require(command: str) -> None:
    if shutil.which(command) is None:
        pytest.fail(
            f"this fault test manages the local service with `{command}`, which is not installed here", pytrace=False
        )


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=180)


async def _publish_with_retries(amqp_url: str, reports: list[ReportFiled], *, rate: float) -> None:
    """A city system that keeps publishing through a broker restart: on failure it retries with the same id."""
    connection = await aio_pika.connect_robust(amqp_url, reconnect_interval=0.5)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        for report in reports:
            meta = cloudevents.meta_for(report, source="/city/test", event_id=f"ev-{report.report_id}")
            message = aio_pika.Message(
                report.model_dump_json().encode(),
                message_id=meta.id,
                headers=cloudevents.amqp_headers(meta),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            for _attempt in range(240):
                try:
                    if channel.is_closed:
                        channel = await connection.channel(publisher_confirms=True)
                    exchange = await channel.get_exchange("city.events", ensure=False)
                    await exchange.publish(message, routing_key="report.filed", timeout=5)
                    break
                except Exception:
                    # The broker is away (or the robust connection is still reconnecting): try again shortly.
                    await asyncio.sleep(0.5)
            else:
                raise AssertionError(f"could not publish {report.report_id} within two minutes")
            await asyncio.sleep(1 / rate)


async def test_broker_restart_while_reports_flow(clean_broker: str, postgres_url: str, tmp_path: Path) -> None:
    _require("rabbitmqctl")
    rng = random.Random(11)
    run = uuid.uuid4().hex[:8]
    reports = [make_report(rng, i, run=run) for i in range(600)]
    expected = expected_orders(reports)
    hub = HubProcess("router", env=hub_env(clean_broker, postgres_url), log_path=tmp_path / "hub.log").start()
    await hub.wait_ready(clean_broker)
    try:
        publisher = asyncio.create_task(_publish_with_retries(clean_broker, reports, rate=150))
        await wait_for(postgres_url, 150)
        await asyncio.to_thread(_run, "rabbitmqctl", "stop_app")
        await asyncio.sleep(3)
        await asyncio.to_thread(_run, "rabbitmqctl", "start_app")
        await asyncio.to_thread(_run, "rabbitmqctl", "await_startup")
        await asyncio.wait_for(publisher, 180)
        await wait_for(postgres_url, len(reports), timeout=180)
        per_queue = await drain_work_orders(clean_broker, expected)
        assert hub.alive(), "the consumer died instead of reconnecting"
    finally:
        hub.stop()
    assert await count_rows(postgres_url) == (len(reports), len(expected))
    delivered = {b["work_order_id"] for bodies in per_queue.values() for b in bodies}
    assert delivered == set(expected)


async def test_database_down_for_30_seconds_while_reports_flow(
    clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    _require("pg_ctlcluster")
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    rng = random.Random(12)
    run = uuid.uuid4().hex[:8]
    reports = [make_report(rng, i, run=run) for i in range(400)]
    expected = expected_orders(reports)
    env = {**hub_env(clean_broker, postgres_url), "HUB_RETRY_DELAY_MS": "2000"}
    hub = HubProcess("router", env=env, log_path=tmp_path / "hub.log").start()
    await hub.wait_ready(clean_broker)
    stopped = False
    try:
        publisher = asyncio.create_task(_publish_with_retries(clean_broker, reports, rate=40))
        await wait_for(postgres_url, 50)
        await asyncio.to_thread(
            _run, "pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "stop", "-m", "fast"
        )
        stopped = True
        await asyncio.sleep(30)
        await asyncio.to_thread(_run, "pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start")
        stopped = False
        await asyncio.wait_for(publisher, 120)
        await wait_for(postgres_url, len(reports), timeout=120)
        per_queue = await drain_work_orders(clean_broker, expected)
        assert hub.alive(), "the consumer died during the outage"
    finally:
        if stopped:
            _run("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start")
        hub.stop()
    assert await count_rows(postgres_url) == (len(reports), len(expected))
    delivered = {b["work_order_id"] for bodies in per_queue.values() for b in bodies}
    assert delivered == set(expected)
    log = (tmp_path / "hub.log").read_text()
    assert '"delivery retried"' in log, "the outage never reached the consumer: the test proved nothing"

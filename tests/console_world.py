"""The console's world for the browser tests and the screenshot script: the hub's router, spikes and statistics
consumers on a real broker and database, `hub serve` as its own process, and bursts of calls and reports a city
system publishes (event time near the wall clock, so the spikes consumer runs live).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from consumers.spikes.tables import Alert
from contracts import CallLogged, CallOutcome, CallTopic, Location, ReportChannel, ReportFiled
from hub.bootstrap import Hub, build_hub
from hub.settings import ConsumingSettings, MetricsSettings, Settings
from infra.clock import utcnow
from tests.support import CitySystem, until

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("HUB_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WASTE = "waste.missed_collection"
POSTCODES = {"Velm": "3806", "Gelinden": "3800", "Zepperen": "3800", "Brustem": "3800"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class World:
    base: str
    amqp_url: str
    database_url: str
    hub: Hub
    env: dict[str, str]

    async def alerts(self, district: str) -> list[Alert]:
        async with self.hub.sessions() as session:
            return list(
                (await session.execute(select(Alert).where(Alert.district == district).order_by(Alert.id))).scalars()
            )


def _start_serve(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _log(log_path: Path) -> str:
    return log_path.read_text()


@contextlib.asynccontextmanager
async def serving(env: dict[str, str], log_path: Path) -> AsyncIterator[str]:
    """`hub serve` as its own process on a free port."""
    port = free_port()
    proc = _start_serve(env, port, log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient(base_url=base, timeout=1) as client:
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"hub serve exited with {proc.returncode}: {_log(log_path)}")
                try:
                    if (await client.get("/health/live")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"hub serve not up after 90 s: {_log(log_path)}")
                await asyncio.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def delete_hub_queues(amqp_url: str) -> None:
    """The hub's queues gone (an earlier test's leftovers), as `clean_broker` does for a test of its own."""
    import aio_pika

    from hub.bootstrap import Domain
    from hub.topology import CONSUMERS
    from infra.topology import consumer_queue_name, dead_letter_queue_name, retry_queue_name, workorder_queue_name

    domain = Domain.load(Settings())
    names = [workorder_queue_name(a) for a in domain.catalogue.assignees]
    for c in CONSUMERS:
        names += [consumer_queue_name(c), retry_queue_name(c), dead_letter_queue_name(c)]
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for name in names:
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(name)
            if not channel.is_closed:
                await channel.close()


@contextlib.asynccontextmanager
async def console_world(amqp_url: str, database_url: str, tmp: Path, **env: str) -> AsyncIterator[World]:
    """The consumers in this process, `hub serve` in its own."""
    settings = Settings(
        amqp_url=amqp_url,
        database_url=database_url,
        consuming=ConsumingSettings(retry_delay_ms=500),
        metrics=MetricsSettings(port=0),
    )
    await delete_hub_queues(amqp_url)
    hub = build_hub(settings, consumers=["router", "spikes", "stats"])
    await hub.start()
    serve_env = {"HUB_AMQP_URL": amqp_url, "HUB_DATABASE_URL": database_url, "HUB_LOG_LEVEL": "WARNING", **env}
    try:
        async with serving(serve_env, tmp / "serve.log") as base:
            yield World(base, amqp_url, database_url, hub, serve_env)
    finally:
        await hub.stop()
        await delete_hub_queues(amqp_url)


async def burst(
    amqp_url: str,
    *,
    district: str,
    streets: tuple[str, ...],
    n: int,
    category: str = WASTE,
    fraction: str | None = "residual",
    minutes: int = 40,
    end: dt.datetime | None = None,
) -> list[str]:
    """`n` reports (each with its call) about one problem in a district over the last `minutes`; their report ids."""
    end = end or utcnow()
    run = uuid.uuid4().hex[:6]
    ids = []
    async with CitySystem(amqp_url) as city:
        for i in range(n):
            at = end - dt.timedelta(minutes=minutes) + dt.timedelta(seconds=i * minutes * 60 // max(1, n))
            report_id = f"rep-{run}-{i:03d}"
            ids.append(report_id)
            report = ReportFiled(
                report_id=report_id,
                filed_at=at,
                channel=ReportChannel.PHONE,
                category=category,
                waste_fraction=fraction,
                location=Location(
                    street=streets[i % len(streets)],
                    house_number=str(10 + i),
                    postcode=POSTCODES.get(district, "3800"),
                    district=district,
                ),
                description="Het afval werd niet opgehaald.",
            )
            call = CallLogged(
                call_id=f"call-{run}-{i:03d}",
                started_at=at - dt.timedelta(minutes=2),
                duration_seconds=120,
                topic=CallTopic.REPORT,
                subject=category,
                outcome=CallOutcome.REPORT_FILED,
                district=district,
                related_report_id=report_id,
            )
            await city.publish_raw(call.model_dump_json().encode(), call.routing_key, f"m-{call.call_id}")
            await city.publish_report(report, f"m-{report_id}")
    return ids


async def wait_alert(world: World, district: str, kind: str, timeout: float = 60) -> Alert:
    found: list[Alert] = []

    async def seen() -> bool:
        found[:] = [a for a in await world.alerts(district) if a.kind == kind]
        return bool(found)

    await until(seen, f"a {kind} alert in {district}", timeout=timeout)
    return found[0]


def anything(_: Any) -> bool:
    return True

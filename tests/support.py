"""Test helpers: a plain AMQP client acting as a city system, the hub as a real process, and report factories."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aio_pika

from contracts import ReportFiled
from infra import cloudevents

ROOT = Path(__file__).resolve().parents[1]
BRUSSELS = ZoneInfo("Europe/Brussels")

CATEGORIES = [
    "waste.missed_collection",
    "waste.illegal_dumping",
    "waste.public_bin_full",
    "lighting.defect",
    "road.damage",
    "sewer.blocked",
    "green.fallen_tree",
    "other",
    "unknown.category_from_a_new_form",
]
DISTRICTS = [("Brustem", "3800"), ("Velm", "3806"), ("Duras", "3803"), ("Sint-Truiden", "3800"), ("Zepperen", "3800")]
FAKE_NAMES = ["Testpersoon Alfa", "Testpersoon Bravo", "Testpersoon Charlie"]


def make_report(rng: random.Random, index: int, *, category: str | None = None, run: str = "") -> ReportFiled:
    district, postcode = rng.choice(DISTRICTS)
    filed = dt.datetime(2026, 11, 2, 8, 0, tzinfo=BRUSSELS) + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 12))
    name = rng.choice(FAKE_NAMES)
    return ReportFiled.model_validate(
        {
            "report_id": f"rep-{run}-{index:05d}",
            "filed_at": filed.isoformat(),
            "channel": rng.choice(["phone", "web", "app"]),
            "category": category or rng.choice(CATEGORIES),
            "location": {
                "street": "Stapelstraat",
                "house_number": str(rng.randrange(1, 200)),
                "postcode": postcode,
                "district": district,
            },
            "description": rng.choice(
                ["Lamp brandt niet", "Put in de weg, gevaarlijk", "Vuilniszakken niet opgehaald", "Boom op de weg"]
            ),
            "reporter": {
                "name": name,
                "phone": f"+32 470 00 {index % 100:02d} {index % 97:02d}",
                "email": f"test.{index}@example.be",
            },
        }
    )


class CitySystem:
    """Publishes on the public contract exactly as a city system would: a plain aio-pika connection."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None
        self.channel: aio_pika.abc.AbstractChannel | None = None

    async def __aenter__(self) -> CitySystem:
        self.connection = await aio_pika.connect_robust(self.amqp_url)
        # on_return_raises + mandatory: a report no queue takes fails the test instead of vanishing.
        self.channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
        await self.channel.declare_exchange("city.events", type="topic", durable=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.connection is not None
        await self.connection.close()

    async def publish_report(self, report: ReportFiled, event_id: str | None = None) -> str:
        meta = cloudevents.meta_for(report, source="/city/test", event_id=event_id, subject=report.report_id)
        await self.publish_raw(
            report.model_dump_json().encode(), "report.filed", meta.id, headers=cloudevents.amqp_headers(meta)
        )
        return meta.id

    async def publish_raw(
        self, body: bytes, routing_key: str, message_id: str | None, headers: dict[str, Any] | None = None
    ) -> None:
        assert self.channel is not None
        exchange = await self.channel.get_exchange("city.events", ensure=False)
        await exchange.publish(
            aio_pika.Message(
                body, message_id=message_id, headers=headers or {}, content_type="application/json", delivery_mode=2
            ),
            routing_key=routing_key,
            mandatory=True,
        )


@dataclass
class Drained:
    bodies: list[dict[str, Any]] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    headers: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)


async def drain_queue(
    amqp_url: str, queue: str, *, expect: int | None = None, timeout: float = 60.0, settle: float = 1.0
) -> Drained:
    """Take every message from a queue (acking them) until `expect` arrived, or nothing came for `settle` s."""
    out = Drained()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        q = await channel.get_queue(queue, ensure=True)
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            msg = await q.get(no_ack=False, fail=False)
            if msg is None:
                if expect is not None and len(out.raw) >= expect and time.monotonic() - quiet_since >= settle:
                    break
                if expect is None and time.monotonic() - quiet_since >= settle:
                    break
                await asyncio.sleep(0.05)
                continue
            quiet_since = time.monotonic()
            out.raw.append(msg.body)
            out.message_ids.append(msg.message_id or "")
            out.headers.append(dict(msg.headers))
            try:
                out.bodies.append(json.loads(msg.body))
            except (ValueError, RecursionError):
                out.bodies.append({})
            await msg.ack()
    return out


async def hub_cli(*args: str, env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """`hub ...` as an operator runs it (its own process, `env` over this one's), without blocking the event loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        *args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    return int(proc.returncode or 0), output.decode()


class HubProcess:
    """`hub run` as a real OS process, so tests can SIGTERM or SIGKILL it."""

    def __init__(self, *names: str, env: dict[str, str], log_path: Path, module: str = "hub.cli") -> None:
        self.names = names or ("all",)
        if "--workers" not in self.names:
            # One process, as the tests were written for (tests.integration.test_supervisor runs N).
            self.names = (*self.names, "--workers", "1")
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.module = module  # `tests.crash_at_commit`: the same CLI, killed at a chosen commit
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> HubProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "run", *self.names],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    async def wait_ready(self, amqp_url: str, queue: str = "hub.router", timeout: float = 60) -> HubProcess:
        """Until the hub consumes from `queue` (its topology is declared and its consumers are up)."""
        deadline = time.monotonic() + timeout
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise AssertionError(
                        f"hub exited with {self.proc.returncode if self.proc else None}: {self.log_tail()}"
                    )
                channel = await connection.channel()
                try:
                    q = await channel.declare_queue(queue, passive=True)
                    if q.declaration_result.consumer_count:
                        return self
                except Exception:
                    pass
                finally:
                    if not channel.is_closed:
                        await channel.close()
                await asyncio.sleep(0.2)
        raise AssertionError(f"hub not consuming from {queue} after {timeout}s: {self.log_tail()}")

    def log_tail(self, n: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n:] if self.log_path.exists() else ""

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return self.proc.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def ids(n: int) -> Iterable[str]:
    return (str(uuid.uuid4()) for _ in range(n))


async def until(
    check: Callable[[], bool | Awaitable[bool]], what: str = "", timeout: float = 30.0, interval: float = 0.1
) -> None:
    """Wait until `check()` (plain or async) is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(interval)

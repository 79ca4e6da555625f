"""The benchmark's reports: the category mix, the factory, filing times and publishing (benchmarks/e2e.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import aio_pika
from aio_pika.abc import (
    AbstractExchange,
)

BRUSSELS = ZoneInfo("Europe/Brussels")

# The report mix: mostly single-assignee categories, illegal dumping fans out to two assignees.
# (category, weight, waste fractions, descriptions). Descriptions avoid the flooding keywords, so every
# category has a fixed number of work orders whatever the time of day; this is checked at start-up.
MIX: list[tuple[str, int, tuple[str, ...] | None, tuple[str, ...]]] = [
    (
        "waste.missed_collection",
        22,
        ("residual", "pmd", "paper", "organic", "glass"),
        ("Restafval niet opgehaald, hele straat staat nog buiten.", "PMD-zakken blijven liggen sinds dinsdag."),
    ),
    ("waste.public_bin_full", 8, None, ("Vuilbak aan de bushalte puilt uit.",)),
    (
        "waste.illegal_dumping",
        10,
        None,
        ("Matras en bouwafval gedumpt langs de weg. Bel me op 0470 12 34 56.", "Zakken afval in de gracht."),
    ),
    ("lighting.defect", 15, None, ("Lamp brandt niet sinds gisteren.", "Straatlamp knippert de hele nacht.")),
    ("road.damage", 14, None, ("Put in de weg, gevaarlijk voor fietsers.", "Stoeptegel los voor de deur.")),
    ("sewer.blocked", 6, None, ("Rioolputje verstopt, het stinkt.",)),
    ("green.fallen_tree", 6, None, ("Boom op het fietspad na de wind.",)),
    ("green.maintenance", 5, None, ("Haag hangt over het voetpad, mail naar test.bench@example.be.",)),
    ("signage.damaged", 5, None, ("Verkeersbord omvergereden.",)),
    ("other", 5, None, ("Vraag over een parkeerkaart.",)),
    ("unknown.form_category", 4, None, ("Melding via een nieuw formulier.",)),
]
STREETS = ["Stapelstraat", "Tiensesteenweg", "Luikerstraat", "Kortenbosstraat", "Naamsestraat", "Plankstraat"]
DISTRICTS = [("Brustem", "3800"), ("Velm", "3806"), ("Duras", "3803"), ("Sint-Truiden", "3800"), ("Zepperen", "3800")]
NAMES = ["Testpersoon Alfa", "Testpersoon Bravo", "Testpersoon Charlie", None]


@dataclass(frozen=True)
class BenchReport:
    report_id: str
    event_id: str
    orders: int
    body: bytes


class ReportFactory:
    """Reports as a city system files them, as JSON bytes (no pydantic on the publishing side)."""

    def __init__(self, run: str, seed: int, filed_within_minutes: int = 30) -> None:
        self.run = run
        self.rng = random.Random(seed)
        # Reports filed in the last half hour before they are published (a backlog of that age): a live city's
        # traffic. Every acknowledgement time is an hour or more, so no work order is overdue (escalated) at once,
        # as they were when the reports were dated up to a week back (each work order then went out twice).
        self.filed_within_minutes = filed_within_minutes
        self.orders: dict[str, int] = {}
        self._cats = [m[0] for m in MIX]
        self._weights = [m[1] for m in MIX]
        self._by_cat = {m[0]: m for m in MIX}

    def data(
        self, index: int, prefix: str, category: str | None = None, filed_at: dt.datetime | None = None
    ) -> dict[str, Any]:
        rng = self.rng
        cat = category or rng.choices(self._cats, self._weights)[0]
        _, _, fractions, descriptions = self._by_cat[cat]
        district, postcode = rng.choice(DISTRICTS)
        now = dt.datetime.now(BRUSSELS).replace(microsecond=0)
        filed = now - dt.timedelta(seconds=rng.randrange(0, 60 * self.filed_within_minutes + 1))
        if filed_at is not None:
            filed = filed_at.astimezone(BRUSSELS).replace(microsecond=0)
        name = rng.choice(NAMES)
        data: dict[str, Any] = {
            "report_id": f"rep-{self.run}-{prefix}-{index:06d}",
            "filed_at": filed.isoformat(),
            "channel": rng.choice(("phone", "web", "app")),
            "category": cat,
            "location": {
                "street": rng.choice(STREETS),
                "house_number": str(rng.randrange(1, 200)),
                "postcode": postcode,
                "district": district,
                "lat": round(50.81 + rng.random() / 50, 5),
                "lon": round(5.17 + rng.random() / 50, 5),
            },
            "description": rng.choice(descriptions),
        }
        if fractions:
            data["waste_fraction"] = rng.choice(fractions)
        if name is not None:
            data["reporter"] = {
                "name": name,
                "phone": f"+32 470 {index % 100:02d} {index % 97:02d} {index % 89:02d}",
                "email": f"test.{index}@example.be",
            }
        return data

    def calibrate(self) -> dict[str, int]:
        """Work orders per category as the hub's own rules decide them; refuses a mix with a varying fan-out."""
        from consumers.router.handler import RoutingService
        from contracts import ReportFiled
        from hub.bootstrap import Domain
        from hub.settings import Settings

        domain = Domain.load(Settings())
        routing = RoutingService(domain.catalogue, domain.rules, domain.calendar)
        for cat in self._cats:
            seen = {
                len(routing.work_orders(ReportFiled.model_validate(self.data(i, "calibration", cat))))
                for i in range(40)
            }
            if len(seen) != 1:
                raise SystemExit(f"benchmark mix: {cat} gives {sorted(seen)} work orders; use a fixed fan-out")
            self.orders[cat] = seen.pop()
        return self.orders

    def report(self, index: int, prefix: str, filed_at: dt.datetime | None = None) -> BenchReport:
        data = self.data(index, prefix, filed_at=filed_at)
        return BenchReport(
            report_id=data["report_id"],
            event_id=str(uuid.uuid4()),
            orders=self.orders[data["category"]],
            body=json.dumps(data).encode(),
        )


# The city's contacts as the spikes prior counts them (hub/config/spikes.yaml): 8,554 reports a year.
REPORTS_PER_HOUR = 8_554 / 8_760


def spread_filing_times(n: int, seed: int, per_hour: float = REPORTS_PER_HOUR) -> list[dt.datetime]:
    """`n` filing times at the city's real rate, in order, the last one now: a Poisson stream over the n / rate
    hours before now (about 128 days for 3,000 reports), so districts see their usual traffic, not a spike."""
    rng = random.Random(seed)
    gaps = [rng.expovariate(per_hour) for _ in range(n)]
    now = dt.datetime.now(dt.UTC)
    total = sum(gaps)
    out, t = [], now - dt.timedelta(hours=total)
    for gap in gaps:
        t += dt.timedelta(hours=gap)
        out.append(min(t, now))
    return out


def report_message(report: BenchReport) -> aio_pika.Message:
    from contracts import ReportFiled
    from infra.cloudevents import PREFIX, SPEC_VERSION

    now = dt.datetime.now(dt.UTC)
    headers: dict[str, Any] = {
        f"{PREFIX}specversion": SPEC_VERSION,
        f"{PREFIX}id": report.event_id,
        f"{PREFIX}source": "/city/benchmark",
        f"{PREFIX}type": ReportFiled.ce_type,
        f"{PREFIX}time": now.isoformat(),
        f"{PREFIX}subject": report.report_id,
    }
    return aio_pika.Message(
        report.body,
        message_id=report.event_id,
        headers=headers,
        content_type="application/json",
        type=ReportFiled.ce_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


async def publish_all(
    exchange: AbstractExchange, routing_key: str, messages: Iterator[aio_pika.Message], *, workers: int = 200
) -> None:
    """Publish with confirms, many in flight (one shared iterator, `workers` publishers)."""

    async def worker() -> None:
        for message in messages:  # next() never awaits: safe to share between the workers
            await exchange.publish(message, routing_key=routing_key, mandatory=True, timeout=60)

    await asyncio.gather(*(worker() for _ in range(workers)))

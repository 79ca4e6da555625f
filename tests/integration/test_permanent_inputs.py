"""Inputs that can never succeed are dead-lettered at the first attempt, with a precise reason.

Deep JSON (RecursionError), a time stamp in year 1 or 9999 that cannot be moved to UTC (OverflowError) and a NUL
byte in a text (PostgreSQL refuses it) used to take every retry round (`HUB_MAX_ATTEMPTS`) before the DLQ.
"""

from __future__ import annotations

import json
import random
import uuid

import pytest

from hub.bootstrap import build_hub
from hub.settings import ConsumingSettings, Settings
from infra.consuming import HEADER_ATTEMPTS, HEADER_ERROR, HEADER_ERROR_CLASS
from tests.support import CitySystem, drain_queue, make_report

pytestmark = pytest.mark.integration


async def test_deep_json_extreme_years_and_nul_bytes_are_dead_lettered_at_once(
    clean_broker: str, postgres_url: str
) -> None:
    settings = Settings(
        amqp_url=clean_broker,
        database_url=postgres_url,
        consuming=ConsumingSettings(retry_delay_ms=300, max_attempts=5),
    )
    hub = build_hub(settings, consumers=["router", "stats"])
    await hub.start()
    run = uuid.uuid4().hex[:8]
    base = json.loads(make_report(random.Random(9), 1, run=run, category="lighting.defect").model_dump_json())
    poison = {
        f"deep-{run}": b"[" * 20_000 + b"]" * 20_000,
        f"year1-{run}": json.dumps(base | {"report_id": f"rep-{run}-1", "filed_at": "0001-01-01T00:10:00+01:00"}),
        f"year9999-{run}": json.dumps(base | {"report_id": f"rep-{run}-2", "filed_at": "9999-12-31T23:50:00-01:00"}),
        f"nul-{run}": json.dumps(base | {"report_id": f"rep-{run}-3", "description": "Lamp\u0000 kapot"}),
    }
    try:
        async with CitySystem(clean_broker) as city:
            for message_id, body in poison.items():
                await city.publish_raw(body if isinstance(body, bytes) else body.encode(), "report.filed", message_id)
        dead = await drain_queue(clean_broker, "hub.router.dlq", expect=len(poison), timeout=20)
    finally:
        await hub.stop()
    got = {mid: h for mid, h in zip(dead.message_ids, dead.headers, strict=True)}
    assert sorted(got) == sorted(poison)
    reasons = {mid.split("-")[0]: (h[HEADER_ERROR_CLASS], h[HEADER_ERROR]) for mid, h in got.items()}
    for mid, headers in got.items():
        assert headers[HEADER_ATTEMPTS] == 1, (mid, headers[HEADER_ERROR])
    assert reasons["deep"][0] == "RecursionError"
    assert "nested too deeply" in reasons["deep"][1]
    for year in ("year1", "year9999"):
        assert reasons[year][0] == "OverflowError", reasons[year]
        assert "out of range" in reasons[year][1], reasons[year]
    assert "NUL" in reasons["nul"][1], reasons["nul"]

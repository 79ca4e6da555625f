"""The communication team's notice: `hub alerts broadcast` -> `spike.broadcast` on the broker -> the timeline."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.spikes.tables import Alert
from consumers.stats.queries import incident_timeline
from consumers.stats.tables import StatIncident
from contracts import SpikeDetected
from hub.bootstrap import build_hub
from hub.settings import ConsumingSettings, MetricsSettings, Settings
from tests.support import CitySystem
from tests.support import hub_cli as support_cli

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Europe/Brussels")


async def hub_cli(*args: str, amqp_url: str, database_url: str) -> tuple[int, str]:
    return await support_cli(*args, env={"HUB_AMQP_URL": amqp_url, "HUB_DATABASE_URL": database_url})


async def broadcast_at(sessions: async_sessionmaker[AsyncSession], incident_id: str) -> dt.datetime | None:
    async with sessions() as session:
        row = (
            await session.execute(
                select(StatIncident.incident_id, StatIncident.broadcast_at).where(
                    StatIncident.incident_id == incident_id
                )
            )
        ).first()
    return row.broadcast_at if row is not None else None


async def test_a_broadcast_from_the_cli_is_marked_on_the_incident_timeline(
    clean_broker: str, database_url: str
) -> None:
    settings = Settings(
        amqp_url=clean_broker,
        database_url=database_url,
        consuming=ConsumingSettings(retry_delay_ms=500),
        metrics=MetricsSettings(port=0),
    )
    hub = build_hub(settings, consumers=["stats"])
    await hub.start()
    try:
        example = SpikeDetected.model_json_schema()["examples"][0]
        spike = SpikeDetected.model_validate(example | {"incident_id": "inc-broadcast-1"})
        # What the spike detector records beside its message: `hub alerts broadcast` checks the id against it.
        async with hub.sessions() as session, session.begin():
            session.add(
                Alert(
                    alert_id="inc-broadcast-1/detected/1", incident_id=spike.incident_id,
                    incident_key=spike.incident_key, kind="detected", seq=1, state="sent", reason=None,
                    category=spike.category, district=spike.district, street=None, event_at=spike.detected_at,
                    onset=spike.first_seen_at, resolved_at=None, observed=9, expected=0.4, p_value=spike.p_value,
                    routing_key="spike.detected", body=None, created_at=spike.detected_at,
                )
            )  # fmt: skip
        async with CitySystem(clean_broker) as city:
            await city.publish_raw(spike.model_dump_json().encode(), "spike.detected", "spike-broadcast-1")

        async def until(check: object, what: str) -> None:
            deadline = asyncio.get_running_loop().time() + 30
            while not await check():  # type: ignore[operator]
                assert asyncio.get_running_loop().time() < deadline, what
                await asyncio.sleep(0.1)

        async def recorded() -> bool:
            async with hub.sessions() as session:
                return await session.get(StatIncident, spike.incident_id) is not None

        await until(recorded, "the incident in the statistics")
        assert await broadcast_at(hub.sessions, spike.incident_id) is None

        code, output = await hub_cli(
            "alerts", "broadcast", spike.incident_id, "--at", "2021-03-15T10:40", "--channel", "website",
            "--channel", "facebook", amqp_url=clean_broker, database_url=database_url,
        )  # fmt: skip
        assert code == 0, output
        assert "published" in output
        posted = dt.datetime(2021, 3, 15, 10, 40, tzinfo=TZ)

        async def marked() -> bool:
            return await broadcast_at(hub.sessions, spike.incident_id) is not None

        await until(marked, "the broadcast marked on the incident")
        assert await broadcast_at(hub.sessions, spike.incident_id) == posted
        async with hub.sessions() as session:
            timeline = await incident_timeline(session, spike.incident_id)
        assert timeline is not None
        assert timeline.incident.broadcast_at == posted

        # A typo never reaches the broker: no alert was recorded under that id.
        code, output = await hub_cli(
            "alerts", "broadcast", "inc-typo", amqp_url=clean_broker, database_url=database_url
        )
        assert code == 1
        assert "no alert recorded for incident 'inc-typo'" in output
    finally:
        await hub.stop()

"""`hub spikes backfill`: history into the counts on a real database, once, publishing nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.spikes.backfill import load_history
from consumers.spikes.engine import EngineState
from consumers.spikes.store import STATE_ROW
from consumers.spikes.tables import Alert, SpikeContact, SpikeCount, SpikeState
from hub.simulator import write_jsonl
from infra.db import create_engine, create_session_factory
from infra.db.tables import OutboxMessage
from tests.spikes_support import CONFIG, category_of, ordinary_traffic
from tests.support import hub_cli

pytestmark = pytest.mark.integration

CSV = """time,category,district,street,channel
2021-02-01T09:15:00,waste.missed_collection,Brustem,Kerkstraat,web
2021-02-01T09:15:00,waste.missed_collection,Brustem,Kerkstraat,web
2021-02-01T10:40:00+01:00,lighting.defect,Velm,Hoogstraat,phone
2021-02-02T11:00:00,sewer.blocked,Aalst,,call
"""


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


async def totals(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int, int, int, int]:
    async with sessions() as session:
        calls, reports = (await session.execute(select(func.sum(SpikeCount.calls), func.sum(SpikeCount.reports)))).one()
        contacts = (await session.execute(select(func.count()).select_from(SpikeContact))).scalar_one()
        alerts = (await session.execute(select(func.count()).select_from(Alert))).scalar_one()
        outbox = (await session.execute(select(func.count()).select_from(OutboxMessage))).scalar_one()
    return int(calls or 0), int(reports or 0), int(contacts), int(alerts), int(outbox)


async def test_a_backfill_counts_each_contact_once_and_publishes_nothing(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    csv_file = tmp_path / "history.csv"
    csv_file.write_text(CSV, encoding="utf-8")
    events = ordinary_traffic(dt.date(2021, 2, 3), 2, seed=4)
    jsonl = tmp_path / "history.jsonl.gz"
    write_jsonl(jsonl, events)
    now = dt.datetime.now(dt.UTC)
    seen: list[int] = []

    first_csv = await load_history(sessions, csv_file, CONFIG, category_of, now=now, on_bytes=seen.append)
    assert (first_csv.counted, first_csv.already) == (4, 0)  # the two identical rows are two citizens
    first_jsonl = await load_history(sessions, jsonl, CONFIG, category_of, now=now)
    assert first_jsonl.counted > 50
    after_first = await totals(sessions)
    calls, reports, contacts, alerts, outbox = after_first
    assert contacts == 4 + first_jsonl.counted
    assert reports >= 3
    assert calls >= 1
    assert (alerts, outbox) == (0, 0)
    assert sum(seen) > 0  # the progress bar advanced

    # Counting began with the history: the blend trusts it, the day's baseline is fitted again.
    async with sessions() as session:
        raw = (await session.execute(select(SpikeState.state).where(SpikeState.name == STATE_ROW))).scalar_one()
    state = EngineState.from_dict(CONFIG, raw)
    assert state.counting_since == dt.datetime(2021, 2, 1, 8, 15, tzinfo=dt.UTC)
    assert state.baseline_day is None

    again = [await load_history(sessions, f, CONFIG, category_of, now=now) for f in (csv_file, jsonl)]
    assert [r.counted for r in again] == [0, 0]
    assert await totals(sessions) == after_first


async def test_the_command_reports_once_and_draws_no_bar_without_a_terminal(postgres_url: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "history.csv"
    csv_file.write_text(CSV, encoding="utf-8")
    env = {"HUB_DATABASE_URL": postgres_url, "HUB_AMQP_URL": "amqp://unused/"}
    code, out = await hub_cli("spikes", "backfill", str(csv_file), env=env)
    assert code == 0, out
    assert out.strip().splitlines() == [
        "history.csv: 4 contacts counted, from 2021-02-01 to 2021-02-02; 0 counted before; "
        "0 lines count nowhere (service calls, other records). Nothing was published."
    ]
    code, out = await hub_cli("spikes", "backfill", str(csv_file), env=env)
    assert code == 0, out
    assert "0 contacts counted; 4 counted before" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("time,category,district,street,channel\nyesterday,lighting.defect,Velm,,web\n", encoding="utf-8")
    code, out = await hub_cli("spikes", "backfill", str(bad), env=env)
    assert code == 1
    assert "line 2: time 'yesterday' is not ISO 8601" in out

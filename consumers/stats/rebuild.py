"""`hub stats rebuild`: recompute every counter from the stored facts, in one transaction.

The same functions as the consumer turn facts into counter deltas (`consumers.stats.aggregates`), so after a
rebuild the figures are those the consumer would have kept had it counted every stored fact exactly once.
Useful after a change of what is counted, or to check the incremental figures.

Running consumers are kept out while it runs: on PostgreSQL the counters table is locked (EXCLUSIVE: readers
go on, writers wait) before the facts are read, so a consumer's transaction either committed before (its
fact is read) or waits and adds its delta on top of the rebuilt figures; on SQLite the DELETE takes the
database's one write lock first, with the same effect.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import FromClause, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from consumers.stats.aggregates import (
    CallFact,
    CounterKey,
    IncidentFact,
    ReportFact,
    Tally,
    WorkOrderFact,
    call_deltas,
    incident_deltas,
    report_deltas,
    utc,
    workorder_deltas,
)
from consumers.stats.handler import write_counters
from consumers.stats.tables import StatCall, StatCounter, StatIncident, StatReport, StatWorkOrder

F = TypeVar("F")

# Facts read per round trip: bounded memory whatever the size of the history.
FETCH_SIZE = 5_000
# Facts counted between two progress updates.
PROGRESS_EVERY = 1_000


@dataclass(frozen=True)
class RebuildResult:
    calls: int
    reports: int
    workorders: int
    incidents: int
    counters: int
    seconds: float


def _facts(session: Session, table: FromClause, fact: type[F]) -> Iterator[F]:
    names = [f.name for f in dataclasses.fields(fact)]  # type: ignore[arg-type]
    result = session.execute(select(*(table.c[n] for n in names)).execution_options(yield_per=FETCH_SIZE))
    for row in result:
        values: dict[str, Any] = dict(zip(names, row, strict=True))
        for name, value in values.items():
            # SQLite returns naive datetimes; they were written in UTC.
            if isinstance(value, dt.datetime):
                values[name] = utc(value)
        yield fact(**values)


def _tally_table(
    session: Session,
    table: FromClause,
    fact: type[F],
    deltas: Callable[[F, ZoneInfo], Iterator[tuple[CounterKey, int, int]]],
    tally: Tally,
    tz: ZoneInfo,
    on_facts: Callable[[int], None] | None = None,
) -> int:
    count = 0
    for item in _facts(session, table, fact):
        tally.add_all(deltas(item, tz))
        count += 1
        if on_facts is not None and count % PROGRESS_EVERY == 0:
            on_facts(PROGRESS_EVERY)
    if on_facts is not None:
        on_facts(count % PROGRESS_EVERY)
    return count


FACT_TABLES = (StatCall.__table__, StatReport.__table__, StatWorkOrder.__table__, StatIncident.__table__)


def count_facts(session: Session) -> int:
    """How many facts a rebuild reads (its progress bar's total)."""
    return sum(int(session.execute(select(func.count()).select_from(t)).scalar_one()) for t in FACT_TABLES)


def rebuild_counters(
    session: Session,
    tz: ZoneInfo,
    on_total: Callable[[int], None] | None = None,
    on_facts: Callable[[int], None] | None = None,
) -> RebuildResult:
    """Delete the counters and recompute them from the facts, in the session's transaction (sync).

    `on_total` gets the number of facts to read (after the lock), `on_facts` each further batch read.
    """
    started = time.perf_counter()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"LOCK TABLE {StatCounter.__tablename__} IN EXCLUSIVE MODE"))
    session.execute(delete(StatCounter))
    if on_total is not None:
        on_total(count_facts(session))
    tally = Tally()
    calls = _tally_table(session, StatCall.__table__, CallFact, call_deltas, tally, tz, on_facts)
    reports = _tally_table(session, StatReport.__table__, ReportFact, report_deltas, tally, tz, on_facts)
    orders = _tally_table(session, StatWorkOrder.__table__, WorkOrderFact, workorder_deltas, tally, tz, on_facts)
    spikes = _tally_table(session, StatIncident.__table__, IncidentFact, incident_deltas, tally, tz, on_facts)
    write_counters(session, tally)
    return RebuildResult(calls, reports, orders, spikes, len(tally), time.perf_counter() - started)


async def rebuild(
    sessions: async_sessionmaker[AsyncSession],
    tz: ZoneInfo,
    on_total: Callable[[int], None] | None = None,
    on_facts: Callable[[int], None] | None = None,
) -> RebuildResult:
    """`hub stats rebuild`: one transaction; the old counters stay visible to readers until it commits."""
    async with sessions() as session, session.begin():
        return await session.run_sync(rebuild_counters, tz, on_total, on_facts)


async def counter_snapshot(session: AsyncSession) -> dict[tuple[str, str, str, str, str], tuple[int, int]]:
    """Every counter, keyed by its primary key (period start as UTC ISO text): to compare two states."""
    c = StatCounter.__table__.c
    rows = await session.execute(
        select(c.metric, c.period_kind, c.dim_key, c.period_start, c.dim_value, c.n, c.sum_seconds)
    )
    return {
        (metric, kind, dim_key, utc(start).isoformat(), value): (int(n), int(seconds))
        for metric, kind, dim_key, start, value, n, seconds in rows
    }

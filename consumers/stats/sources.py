"""Where the API's counted figures come from: the stored counters, or the counters of the facts matching a filter.

* without a district or category filter, from the counters the statistics consumer keeps (`stat_counters`):
  a year is a handful of indexed range reads;
* with a filter, the counters cannot answer (they are kept per dimension, not per district x subject x hour),
  so the facts that match the filter are read and turned into counter deltas by the SAME functions the
  consumer uses (`queries.count_facts`), then read like the stored counters. One way of counting, so a
  filtered figure can never mean something else than the unfiltered one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.stats import queries
from consumers.stats.aggregates import PeriodKind
from consumers.stats.queries import Count, Counters, Period
from consumers.stats.scope import Scope


class Source(Protocol):
    async def totals(self, metric: str, dim_key: str) -> dict[str, Count]: ...

    async def series(self, metric: str, dim_key: str, kind: PeriodKind) -> dict[dt.datetime, dict[str, Count]]: ...


@dataclass
class CounterSource:
    """The counters `stat_counters` holds (no filter)."""

    session: AsyncSession
    period: Period
    tz: ZoneInfo

    async def totals(self, metric: str, dim_key: str) -> dict[str, Count]:
        return await queries.totals(self.session, metric, dim_key, self.period, self.tz)

    async def series(self, metric: str, dim_key: str, kind: PeriodKind) -> dict[dt.datetime, dict[str, Count]]:
        return await queries.series(self.session, metric, dim_key, kind, self.period, self.tz)


class FactMemo:
    """Filtered counters shared by the requests of one dashboard view, computed once.

    A view asks five endpoints at once with the same filter, and counting a district's year of calls costs
    a few hundred milliseconds of CPU: each would count the same facts. An entry is keyed by the metric, period
    and filter AND by the stored counters' running totals of every metric, which grow with each fact the
    consumer counts: a new fact makes new keys, so a memoised answer is never behind the database. Concurrent
    requests for one key await the same task; it runs in its own session, so a client that goes away cancels
    nothing the others wait for."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], size: int = 8) -> None:
        self._sessions = sessions
        self._size = size
        self._entries: OrderedDict[tuple[object, ...], asyncio.Task[Counters]] = OrderedDict()

    async def counters(self, metric: str, period: Period, tz: ZoneInfo, scope: Scope) -> Counters:
        async with self._sessions() as session:
            version = await queries.counters_version(session)
        key = (metric, period, str(tz), scope, version)
        task = self._entries.get(key)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.create_task(self._count(metric, period, tz, scope))
            self._entries[key] = task
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return await asyncio.shield(task)

    async def _count(self, metric: str, period: Period, tz: ZoneInfo, scope: Scope) -> Counters:
        async with self._sessions() as session:
            return await queries.count_facts(session, metric, period, tz, scope)


@dataclass
class FactSource:
    """The counters the facts matching a filter would have made: the consumer's own delta functions, in memory.

    Only the facts of the period are read, so every grain counts only what lies inside the range, as the
    stored counters read over a range do."""

    session: AsyncSession
    period: Period
    tz: ZoneInfo
    scope: Scope
    memo: FactMemo | None = None
    _counters: dict[str, Counters] = field(default_factory=dict)

    async def _load(self, metric: str) -> Counters:
        loaded = self._counters.get(metric)
        if loaded is None:
            if self.memo is not None:
                loaded = await self.memo.counters(metric, self.period, self.tz, self.scope)
            else:
                loaded = await queries.count_facts(self.session, metric, self.period, self.tz, self.scope)
            self._counters[metric] = loaded
        return loaded

    async def totals(self, metric: str, dim_key: str) -> dict[str, Count]:
        out: dict[str, Count] = {}
        # Day counters: every fact read lies in the period, and every grain sums to the same totals.
        for _, value, n, seconds in (await self._load(metric)).get(("day", dim_key), []):
            out[value] = out.get(value, Count()) + Count(n, seconds)
        return out

    async def series(self, metric: str, dim_key: str, kind: PeriodKind) -> dict[dt.datetime, dict[str, Count]]:
        out: dict[dt.datetime, dict[str, Count]] = defaultdict(dict)
        for start, value, n, seconds in (await self._load(metric)).get((kind, dim_key), []):
            out[start][value] = out[start].get(value, Count()) + Count(n, seconds)
        return dict(out)

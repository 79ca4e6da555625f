"""The statistics consumer's effects: store each fact once, add its counter deltas in the same transaction.

A fact is new when its row is inserted (its business id was never seen, under any message id); only then are
its deltas added. The calls, reports and work orders of all deliveries in one transaction are written just
before it commits, as one set-based statement per table, and their deltas summed into ONE counter upsert in
primary-key order:
  * `INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n` is atomic, so replicas never lose an update;
  * every transaction locks fact and counter rows in key order, so two replicas cannot deadlock on the hot
    rows (every call touches today's totals), which per-message upserts in delivery order would;
  * a few statements per batch instead of several per delivery: the consumer keeps up with the broker.
This happens when the batcher flushes the transaction's deferred rows (`infra.batcher.deferred`): deliveries
only get the session. A failed commit rolls it all back with the inbox entries, so each message still counts
exactly once.
Rare messages (status changes, spikes) are written at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import delete, inspect, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Session

from consumers.domain.calendar import CityCalendar
from consumers.domain.places import PlaceFinder, place_report
from consumers.stats.aggregates import (
    CallFact,
    CounterKey,
    ReportFact,
    Tally,
    WorkOrderFact,
    call_deltas,
    call_fact,
    incident_deltas,
    incident_fact,
    report_deltas,
    report_fact,
    utc,
    workorder_deltas,
    workorder_fact,
)
from consumers.stats.tables import (
    StatCall,
    StatCounter,
    StatFoldedReport,
    StatIncident,
    StatReport,
    StatWorkOrder,
    StatWorkOrderEvent,
)
from contracts import (
    CallLogged,
    IncidentBroadcast,
    IncidentOrderUpdated,
    ReportFiled,
    SpikeDetected,
    SpikeResolved,
    WorkOrderIssued,
    WorkOrderStatusApplied,
)
from infra.batcher import deferred
from infra.db.dialect import chunks, dialect_insert, insert_ignore
from infra.outbox import Outgoing

F = TypeVar("F")

_PENDING = "stats.pending"


def counter_upsert(dialect: str) -> Any:
    """`INSERT INTO stat_counters ... ON CONFLICT (key) DO UPDATE SET n = n + excluded.n, ...` for the dialect."""
    stmt = dialect_insert(dialect, StatCounter)
    return stmt.on_conflict_do_update(
        index_elements=[column.name for column in inspect(StatCounter).primary_key],
        set_={
            "n": StatCounter.n + stmt.excluded.n,
            "sum_seconds": StatCounter.sum_seconds + stmt.excluded.sum_seconds,
        },
    )


def write_counters(session: Session, tally: Tally) -> None:
    """Add a tally to `stat_counters` (sync: runs inside the commit, or in a rebuild's `run_sync`)."""
    stmt = counter_upsert(session.get_bind().dialect.name)
    rows = tally.rows()
    for chunk in chunks(rows):
        session.execute(stmt, chunk)


def insert_new_facts(session: Session, model: type[DeclarativeBase], key: str, facts: dict[str, Any]) -> set[str]:
    """Insert the facts whose key is not stored yet (in key order); the keys that were new."""
    table = model.__table__
    # One cached statement, executed for many rows: SQLAlchemy batches them into multi-row INSERTs and collects
    # RETURNING, which names only the rows that were inserted.
    stmt = insert_ignore(session, model).returning(table.c[key])
    names = [f.name for f in dataclasses.fields(next(iter(facts.values())))]
    # Facts are flat: a shallow dict is what `dataclasses.asdict` would give, without its deep copies.
    ordered = [{name: getattr(facts[k], name) for name in names} for k in sorted(facts)]
    new: set[str] = set()
    for chunk in chunks(ordered):
        new.update(session.execute(stmt, chunk).scalars())
    return new


@dataclass
class Pending:
    """What the deliveries of one transaction add, written when it commits."""

    tz: ZoneInfo
    calls: dict[str, CallFact] = field(default_factory=dict)
    reports: dict[str, ReportFact] = field(default_factory=dict)
    workorders: dict[str, WorkOrderFact] = field(default_factory=dict)
    tally: Tally = field(default_factory=Tally)

    async def flush(self, session: AsyncSession) -> list[Outgoing]:
        """Written once all deliveries of the transaction were applied; the statistics emit nothing."""
        await session.run_sync(self.write)
        return []

    def write(self, session: Session) -> None:
        self._facts(session, StatCall, "call_id", self.calls, call_deltas)
        self._facts(session, StatReport, "report_id", self.reports, report_deltas)
        self._facts(session, StatWorkOrder, "work_order_id", self.workorders, workorder_deltas)
        if len(self.tally):
            write_counters(session, self.tally)

    def _facts(
        self,
        session: Session,
        model: type[DeclarativeBase],
        key: str,
        facts: dict[str, F],
        deltas: Callable[[F, ZoneInfo], Iterator[tuple[CounterKey, int, int]]],
    ) -> None:
        if facts:
            for new in insert_new_facts(session, model, key, facts):
                self.tally.add_all(deltas(facts[new], self.tz))


def pending(session: AsyncSession, tz: ZoneInfo) -> Pending:
    """The statistics of the session's current transaction, written before it commits."""
    return deferred(session, _PENDING, lambda: Pending(tz))


class UnknownIncident(LookupError):
    """A broadcast names an incident the statistics have not seen (yet): retried a few times, then dead-lettered."""


@dataclass(frozen=True)
class StatsService:
    """Turns each message into a stored fact and counter deltas (`consumers.stats.aggregates` decides which)."""

    calendar: CityCalendar
    places: PlaceFinder | None = None

    async def apply_call(self, session: AsyncSession, call: CallLogged) -> None:
        """Count a logged call once per call id."""
        fact = call_fact(call, self.calendar)
        # The first delivery of a call id in the transaction wins, as the first stored row would.
        pending(session, self.calendar.tz).calls.setdefault(fact.call_id, fact)

    async def apply_report(self, session: AsyncSession, report: ReportFiled) -> None:
        """Count a filed report once per report id; its personal data never reaches the statistics."""
        # A point without a district counts in the district it lies in (or as outside the city).
        fact = report_fact(place_report(report, self.places).report, self.calendar)
        pending(session, self.calendar.tz).reports.setdefault(fact.report_id, fact)

    async def apply_workorder(self, session: AsyncSession, order: WorkOrderIssued) -> None:
        """Count an issued work order once per work order id."""
        fact = workorder_fact(order, self.calendar)
        pending(session, self.calendar.tz).workorders.setdefault(fact.work_order_id, fact)
        if order.incident is not None:
            await self._folded(session, order.work_order_id, order.incident.report_ids)

    async def apply_update(self, session: AsyncSession, update: IncidentOrderUpdated) -> None:
        """Keep which reports an incident order stands for (its updates carry the whole list), for report status."""
        await self._folded(session, update.work_order_id, update.incident.report_ids)
        if update.unfolded_report_ids:
            f = StatFoldedReport.__table__.c
            await session.execute(
                delete(StatFoldedReport).where(
                    f.work_order_id == update.work_order_id, f.report_id.in_(sorted(update.unfolded_report_ids))
                )
            )

    async def _folded(self, session: AsyncSession, work_order_id: str, report_ids: list[str]) -> None:
        if report_ids:
            rows = [{"report_id": rid, "work_order_id": work_order_id} for rid in sorted(set(report_ids))]
            await session.execute(insert_ignore(session, StatFoldedReport), rows)

    async def apply_status(self, session: AsyncSession, change: WorkOrderStatusApplied) -> None:
        """Store an applied status change for the SLA figures (`workorder.status.applied`: the status consumer
        checked its sender, its work order and the state machine)."""
        stmt = insert_ignore(session, StatWorkOrderEvent).values(
            work_order_id=change.work_order_id,
            status=change.status.value,
            changed_at=utc(change.changed_at),
            assignee=change.assignee,
        )
        await session.execute(stmt)

    async def apply_spike(self, session: AsyncSession, spike: SpikeDetected | SpikeResolved) -> None:
        """Record an incident once (counted in the period of its detection); later messages fill in details."""
        fact = incident_fact(spike)
        stmt = insert_ignore(session, StatIncident).values(**dataclasses.asdict(fact))
        inserted = await session.execute(stmt.returning(StatIncident.incident_id))
        if inserted.scalar_one_or_none() is not None:
            pending(session, self.calendar.tz).tally.add_all(incident_deltas(fact, self.calendar.tz))
            return
        row = StatIncident.__table__.c
        if isinstance(spike, SpikeResolved):
            await session.execute(
                update(StatIncident)
                .where(row.incident_id == fact.incident_id)
                .values(resolved_at=fact.resolved_at, total_calls=fact.total_calls, total_reports=fact.total_reports)
            )
        else:
            # The resolution arrived first (another queue order after a retry): keep the detection's details,
            # and the first detection's counts when an update of a live alert comes in.
            await session.execute(
                update(StatIncident)
                .where(row.incident_id == fact.incident_id, row.first_seen_at.is_(None))
                .values(
                    first_seen_at=fact.first_seen_at,
                    waste_fraction=fact.waste_fraction,
                    calls_in_window=fact.calls_in_window,
                    reports_in_window=fact.reports_in_window,
                )
            )

    async def apply_broadcast(self, session: AsyncSession, broadcast: IncidentBroadcast) -> None:
        """Keep when the first notice about an incident went out (an earlier one wins, whatever the order)."""
        row = StatIncident.__table__.c
        at = utc(broadcast.broadcast_at)
        updated = await session.execute(
            update(StatIncident)
            .where(row.incident_id == broadcast.incident_id, or_(row.broadcast_at.is_(None), row.broadcast_at > at))
            .values(broadcast_at=at)
        )
        if updated.rowcount == 0:  # type: ignore[attr-defined]
            known = await session.execute(select(row.incident_id).where(row.incident_id == broadcast.incident_id))
            if known.first() is None:
                # The detection normally comes long before anyone posts a notice: an unknown id is mostly a typo.
                raise UnknownIncident(f"no incident {broadcast.incident_id!r} in the statistics")

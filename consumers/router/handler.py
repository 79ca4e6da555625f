"""The router's decision and effects for one report: store it, issue one work order per assignee."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import TRIAGE, Catalogue
from consumers.domain.places import Placed, PlaceFinder, place_report
from consumers.router.incidents import IncidentFolding, keys_of
from consumers.router.rules import RoutingDecision, RuleSet
from consumers.router.tables import Report, WorkOrder
from consumers.router.workorders import OUTSIDE_CITY_RULE_ID, build_work_orders, issued_message, work_order_row
from contracts import ReportFiled, SpikeDetected, SpikeResolved, WorkOrderIssued
from infra.batcher import deferred
from infra.clock import utcnow
from infra.db.dialect import insert_ignore
from infra.outbox import Outgoing


@dataclass(frozen=True)
class RoutingService:
    catalogue: Catalogue
    rules: RuleSet
    calendar: CityCalendar
    clock: Callable[[], dt.datetime] = utcnow
    # District boundaries: a report with a point and no district is placed before the rules see it.
    places: PlaceFinder | None = None
    # Live incidents' reports fold into one order per assignee (`incidents`); None: every report its own orders.
    folding: IncidentFolding | None = None

    def decide(self, report: ReportFiled) -> tuple[ReportFiled, RoutingDecision]:
        """The report with its place completed from its point, and the routing decision for it.

        A report that cannot be placed (its point lies outside the city) goes to ContactCenter triage, with
        the reason in the decision and at the head of the triage work order's description.
        """
        placed: Placed = place_report(report, self.places)
        if placed.outside is None:
            return placed.report, self.rules.evaluate(placed.report)
        return placed.report, RoutingDecision(
            rule_id=OUTSIDE_CITY_RULE_ID,
            rule_line=0,
            assignees=(TRIAGE,),
            reasons=(placed.outside,),
            category_known=self.catalogue.category(report.category) is not None,
        )

    def work_orders(self, report: ReportFiled) -> list[WorkOrderIssued]:
        report, decision = self.decide(report)
        return build_work_orders(report, decision, self.catalogue, self.calendar, self.clock(), self.rules.version)

    async def apply(self, session: AsyncSession, report: ReportFiled, message_id: str) -> None:
        """Queue the report and its work orders for the transaction's set-based write (see `_Routed`).

        Nothing is emitted here: the batcher flushes the transaction's rows once all its deliveries were
        applied, and the work orders that are new then go to the outbox (none on a replay).
        """
        report, decision = self.decide(report)
        now = self.clock()
        orders = build_work_orders(report, decision, self.catalogue, self.calendar, now, self.rules.version)
        routed = deferred(session, _ROUTED, lambda: _Routed(self.folding))
        routed.filed.setdefault(report.report_id, (report, orders))
        contact = report.reporter
        loc = report.location
        # The same report twice in one transaction (under two message ids): the first one is stored, as when
        # they come in two transactions.
        routed.reports.setdefault(
            report.report_id,
            {
                "report_id": report.report_id,
                "message_id": message_id,
                "filed_at": report.filed_at,
                "received_at": now,
                "channel": report.channel.value,
                "category": report.category,
                "category_known": decision.category_known,
                "waste_fraction": report.waste_fraction,
                "street": loc.street,
                "house_number": loc.house_number,
                "postcode": loc.postcode,
                "district": loc.district,
                "lat": loc.lat,
                "lon": loc.lon,
                "description": report.description,
                "reporter_name": contact.name if contact else None,
                "reporter_phone": contact.phone if contact else None,
                "reporter_email": str(contact.email) if contact and contact.email else None,
                "call_id": report.call_id,
                "rule_id": decision.rule_id,
                "rules_version": self.rules.version,
                "status": "routed",
            },
        )
        for order in orders:
            routed.orders.setdefault(order.work_order_id, (order, message_id, now))

    async def tick(self, session: AsyncSession) -> None:
        """The router's timer (`HUB_INCIDENT_UPDATE_TICK_S`, the hub's periodic jobs): incident orders' updates that
        are due when no further report came, sent in the transaction's write under their keys' locks (`_Routed`)."""
        deferred(session, _ROUTED, lambda: _Routed(self.folding)).timer = True

    async def apply_spike(self, session: AsyncSession, spike: SpikeDetected | SpikeResolved, message_id: str) -> None:
        """Keep an incident's detection or resolution for the transaction's write (after its locks, see `_Routed`)."""
        deferred(session, _ROUTED, lambda: _Routed(self.folding)).spikes.append((spike, message_id))


@dataclass
class _Routed:
    """The reports and work orders of one transaction, written as one executemany per table.

    One statement per row cost about a millisecond of CPU each (statement construction and compilation), which
    capped the router near a hundred reports a second; an executemany of a constant statement costs tens of
    microseconds per row. Rows are in the batcher's message-id order; ON CONFLICT DO NOTHING keeps a replay
    (a report seen before under another message id) from changing anything, and RETURNING tells which work
    orders are new: only those are emitted, so no work order is issued twice.

    Folding (`consumers.router.incidents`): the locks of every incident key the transaction touches are taken at
    once, in sorted order (replicas never deadlock), then the incidents' detections and resolutions are applied,
    then the new reports of a live incident are folded: they get no order of their own; on the timer's turn, the
    updates due on the wall clock go last (the keys they need locked with the others).
    """

    folding: IncidentFolding | None = None
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, tuple[WorkOrderIssued, str, dt.datetime]] = field(default_factory=dict)
    filed: dict[str, tuple[ReportFiled, list[WorkOrderIssued]]] = field(default_factory=dict)
    spikes: list[tuple[SpikeDetected | SpikeResolved, str]] = field(default_factory=list)
    # The timer's turn: updates due on the wall clock (`IncidentFolding.send_timer_updates`).
    timer: bool = False

    async def flush(self, session: AsyncSession) -> list[Outgoing]:
        new_reports: set[str] = set()
        if self.reports:
            stmt = insert_ignore(session, Report).returning(Report.__table__.c.report_id)
            new_reports = set((await session.execute(stmt, list(self.reports.values()))).scalars())
        outgoing = await self._fold(session, new_reports)
        # A report stored before (a replay under another message id) issues nothing: its orders exist already, or
        # it was folded into an incident order and has none of its own.
        self.orders = {k: v for k, v in self.orders.items() if v[0].report_id in new_reports}
        if not self.orders:
            return outgoing
        rows = [work_order_row(order, now=now) for order, _message_id, now in self.orders.values()]
        stmt = insert_ignore(session, WorkOrder).returning(WorkOrder.__table__.c.work_order_id)
        new = set((await session.execute(stmt, rows)).scalars())
        return outgoing + [
            issued_message(order, now, correlation_id=message_id)
            for work_order_id, (order, message_id, now) in self.orders.items()
            if work_order_id in new
        ]

    async def _fold(self, session: AsyncSession, new_reports: set[str]) -> list[Outgoing]:
        """Detections and resolutions, then the new reports of live incidents (their own orders dropped)."""
        folding = self.folding
        if folding is None:
            return []
        routed = [
            self.filed[rid]
            for rid in sorted(new_reports)
            if self.filed[rid][0].location.district and folding.rule(self.filed[rid][0].category) is not None
        ]
        keys = keys_of(spike for spike, _ in self.spikes)
        keys |= {(r.category, r.location.district or "") for r, _ in routed}
        timer_keys = await folding.timer_keys(session) if self.timer else set()
        keys |= timer_keys
        if not keys:
            return []
        await folding.lock(session, keys)
        outgoing: list[Outgoing] = []
        for spike, message_id in self.spikes:
            if isinstance(spike, SpikeDetected):
                outgoing.extend(await folding.detected(session, spike, message_id))
            else:
                outgoing.extend(await folding.resolved(session, spike, message_id))
        if routed:
            folded, messages = await folding.fold(session, routed)
            outgoing.extend(messages)
            for work_order_id in folded:
                self.orders.pop(work_order_id, None)
            resolutions = [spike for spike, _ in self.spikes if isinstance(spike, SpikeResolved)]
            if folded and resolutions:
                outgoing.extend(await folding.last_updates(session, resolutions))
        if timer_keys:
            outgoing.extend(await folding.send_timer_updates(session, timer_keys))
        return outgoing


_ROUTED = "router.routed"

"""The folding's effects: live incidents and the links of their reports, in the routing transaction; the incident
orders and their updates these cause are written by `incident_orders`.

Every decision about an incident key (category x district) is made under one lock per key (`infra.db.locks`),
taken in sorted order at the start of the router's write for the transaction, so two router replicas never fold
the same key at the same time: a report routed before the detection committed is merged by the detection, one
routed after folds at once, and either way it lands in the same incident order (deterministic ids). What folds is
decided by `folding` (pure) on event time only.

Messages (all through the outbox, in the same transaction):
  * the incident order: a `WorkOrderIssued` with `incident` set, on `workorder.issued.<assignee>`;
  * its updates: `IncidentOrderUpdated` on `workorder.updated.<assignee>`, at most one per interval of event time
    while reports join, a last one at the resolution, one at once when staff unfold a report, and, when no further
    message comes, one from the router's timer once the interval has passed on the wall clock (live only);
  * `WorkOrderStatusApplied` (`merged`) for each per-report order the detection closed as merged (and `issued`
    again when its report is unfolded), so the statistics never count a merged order as open or overdue.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import Catalogue, FoldRule
from consumers.domain.places import PlaceFinder
from consumers.router import folding
from consumers.router.folding import Candidate, LiveIncident
from consumers.router.incident_orders import HUB_SENDER, IncidentOrders, live_incident
from consumers.router.incident_records import OPEN
from consumers.router.stored import report_filed
from consumers.router.tables import REPORT_KIND, IncidentLink, IncidentOrder, Report, RouterIncident, WorkOrder
from contracts import ReportFiled, SpikeDetected, SpikeResolved, WorkOrderIssued
from infra.clock import aware, utcnow
from infra.db.dialect import insert_ignore
from infra.db.locks import lock_all
from infra.outbox import Outgoing


def lock_name(category: str, district: str) -> str:
    return f"router.incident|{category}|{district}"


@dataclass(frozen=True)
class IncidentFolding:
    catalogue: Catalogue
    calendar: CityCalendar
    places: PlaceFinder | None = None
    update_interval: dt.timedelta = dt.timedelta(minutes=30)
    clock: Callable[[], dt.datetime] = utcnow

    @property
    def orders(self) -> IncidentOrders:
        """What writes the incident orders and their updates."""
        return IncidentOrders(self.catalogue, self.calendar, self.update_interval)

    # --- the rules' inputs -------------------------------------------------------------------------------------

    def rule(self, category: str) -> FoldRule | None:
        found = self.catalogue.category(category)
        return found.fold if found is not None else None

    def _distance(
        self, district: str, streets: Sequence[str], street: str | None, point: tuple[float, float] | None
    ) -> float | None:
        if self.places is None:
            return None
        return self.places.distance_to_streets_m(district, streets, street=street, point=point)

    def verdict(self, candidate: Candidate, incident: LiveIncident) -> folding.Verdict:
        return folding.verdict(candidate, incident, self.rule(candidate.category), self._distance)

    async def lock(self, session: AsyncSession, keys: Iterable[tuple[str, str]]) -> None:
        await lock_all(session, (lock_name(c, d) for c, d in keys))

    async def incidents(self, session: AsyncSession, keys: Iterable[tuple[str, str]]) -> list[LiveIncident]:
        """The detected incidents of these keys (resolved ones too: a late report filed in their span folds)."""
        keys = sorted(set(keys))
        if not keys:
            return []
        t = RouterIncident.__table__.c
        rows = await session.execute(
            select(RouterIncident).where(
                t.detected_at.is_not(None), or_(*(and_(t.category == c, t.district == d) for c, d in keys))
            )
        )
        return [live_incident(row) for row in rows.scalars()]

    # --- reports as they are routed -----------------------------------------------------------------------------

    async def fold(
        self, session: AsyncSession, routed: Sequence[tuple[ReportFiled, Sequence[WorkOrderIssued]]]
    ) -> tuple[set[str], list[Outgoing]]:
        """Fold the transaction's new reports that belong to a live incident; the per-report order ids they no
        longer get, and the messages (a new incident order, or an update when one is due). Locks taken already."""
        keys = {(r.category, r.location.district) for r, _ in routed if r.location.district and self.rule(r.category)}
        incidents = await self.incidents(session, keys)
        if not incidents:
            return set(), []
        now = self.clock()
        folded: set[str] = set()
        links: list[dict[str, object]] = []
        by_order: dict[str, LiveIncident] = {}
        for report, orders in routed:
            candidate = Candidate.of(report)
            incident = folding.choose(incidents, candidate)
            if incident is None or self.rule(report.category) is None:
                continue
            decided = self.verdict(candidate, incident)
            if not decided.fold:
                continue
            for order in orders:
                io = folding.incident_order_id(incident.incident_id, order.assignee)
                if not await self._accepts(session, io):
                    continue
                folded.add(order.work_order_id)
                by_order[io] = incident
                links.append(_link(candidate, order.assignee, io, incident, "live", None, now, decided.reason))
        if links:
            await session.execute(insert_ignore(session, IncidentLink), links)
        outgoing: list[Outgoing] = []
        for io, incident in sorted(by_order.items()):
            outgoing.extend(await self.orders.refresh(session, incident, io, now=now))
        return folded, outgoing

    async def _accepts(self, session: AsyncSession, io: str) -> bool:
        """A rejected incident order takes no more reports: they get their own orders again."""
        status = (
            await session.execute(select(WorkOrder.status).where(WorkOrder.work_order_id == io))
        ).scalar_one_or_none()
        return status != "rejected"

    # --- the spikes consumer's messages -------------------------------------------------------------------------

    async def detected(self, session: AsyncSession, spike: SpikeDetected, message_id: str) -> list[Outgoing]:
        """Record the incident; on its first detection merge the reports routed before it. Locks taken already."""
        now = self.clock()
        row = await session.get(RouterIncident, spike.incident_id, with_for_update=False)
        streets = list(dict.fromkeys([*([spike.street] if spike.street else []), *spike.affected_streets]))
        values = {
            "category": spike.category,
            "district": spike.district,
            "street": spike.street,
            "waste_fraction": spike.waste_fraction,
            "first_seen_at": spike.first_seen_at,
            "detected_at": spike.detected_at,
            "streets": json.dumps(streets, ensure_ascii=False),
            "draft_nl": spike.draft_nl,
            "updated_at": now,
        }
        if row is None:
            await session.execute(
                insert_ignore(session, RouterIncident).values(incident_id=spike.incident_id, resolved_at=None, **values)
            )
        elif row.detected_at is None:
            await session.execute(
                update(RouterIncident).where(RouterIncident.incident_id == spike.incident_id).values(**values)
            )
        else:
            # An update of a live alert: the incident is known; a throttled update may be due by now.
            return await self.orders.due_updates(session, live_incident(row), spike.last_seen_at, now)
        incident = (await self.incidents(session, [(spike.category, spike.district)])) or []
        live = next((i for i in incident if i.incident_id == spike.incident_id), None)
        if live is None or self.rule(spike.category) is None:
            return []
        return await self._merge_routed(session, live, spike.detected_at, now)

    async def last_updates(self, session: AsyncSession, resolutions: Sequence[SpikeResolved]) -> list[Outgoing]:
        """The last update of incidents resolved in this transaction, for the reports folded after the resolution
        was applied in it (a resolution and late reports of its incident in one batch): without it they stayed
        pending, never announced (a replayed year: 7 reports of Aalst's missed paper round). Locks taken already."""
        outgoing: list[Outgoing] = []
        now = self.clock()
        for spike in resolutions:
            row = await session.get(RouterIncident, spike.incident_id, populate_existing=True)
            if row is None or row.detected_at is None:
                continue
            incident = live_incident(row, resolved_at=spike.resolved_at)
            outgoing.extend(await self.orders.due_updates(session, incident, spike.resolved_at, now, force=True))
        return outgoing

    async def resolved(self, session: AsyncSession, spike: SpikeResolved, message_id: str) -> list[Outgoing]:
        """Close the incident's span; reports folded after its end get their own orders; last updates go out."""
        now = self.clock()
        row = await session.get(RouterIncident, spike.incident_id)
        if row is None:
            await session.execute(
                insert_ignore(session, RouterIncident).values(
                    incident_id=spike.incident_id,
                    category=spike.category,
                    district=spike.district,
                    street=spike.street,
                    waste_fraction=None,
                    first_seen_at=None,
                    detected_at=None,
                    resolved_at=spike.resolved_at,
                    streets="[]",
                    draft_nl="",
                    updated_at=now,
                )
            )
            return []
        await session.execute(
            update(RouterIncident)
            .where(RouterIncident.incident_id == spike.incident_id)
            .values(resolved_at=spike.resolved_at, updated_at=now)
        )
        if row.detected_at is None:
            return []
        incident = live_incident(row, resolved_at=spike.resolved_at)
        outgoing: list[Outgoing] = []
        # Folded while the resolution was still on its way, but filed after the incident's end in event time: they
        # get their own orders, as a replay in which the resolution came first gives them.
        lk = IncidentLink.__table__.c
        late = await session.execute(
            select(lk.report_id, lk.work_order_id).where(
                lk.incident_id == incident.incident_id, lk.unfolded_at.is_(None), lk.filed_at > spike.resolved_at
            )
        )
        taken_out: dict[str, list[str]] = {}
        for report_id, io in sorted(late.all()):
            taken_out.setdefault(io, []).append(report_id)
        for report_id in sorted({r for ids in taken_out.values() for r in ids}):
            outgoing.extend(await self.unfold(session, report_id, by=HUB_SENDER, lock=False, refresh=False))
        # The last update names them as taken out, so the assignee and the statistics stop counting them.
        outgoing.extend(
            await self.orders.due_updates(session, incident, spike.resolved_at, now, force=True, unfolded=taken_out)
        )
        return outgoing

    async def _merge_routed(
        self, session: AsyncSession, incident: LiveIncident, at: dt.datetime, now: dt.datetime
    ) -> list[Outgoing]:
        """Link the reports routed before the detection; their open per-report orders are closed as merged."""
        r = Report.__table__.c
        where = [r.category == incident.category, r.district == incident.district, r.filed_at >= incident.first_seen_at]
        if incident.resolved_at is not None:
            where.append(r.filed_at <= incident.resolved_at)
        reports = {row.report_id: row for row in (await session.execute(select(Report).where(*where))).scalars()}
        if not reports:
            return []
        w = WorkOrder.__table__.c
        orders = list(
            (
                await session.execute(
                    select(WorkOrder)
                    .where(w.report_id.in_(sorted(reports)), w.kind == REPORT_KIND, w.status.in_(OPEN))
                    .order_by(w.work_order_id)
                )
            ).scalars()
        )
        outgoing: list[Outgoing] = []
        links: list[dict[str, object]] = []
        touched: set[str] = set()
        for order in orders:
            report = reports[order.report_id]
            candidate = _candidate(report)
            decided = self.verdict(candidate, incident)
            if not decided.fold:
                continue
            io = folding.incident_order_id(incident.incident_id, order.assignee)
            links.append(
                _link(candidate, order.assignee, io, incident, "merged", order.work_order_id, now, decided.reason)
            )
            touched.add(io)
        if not links:
            return []
        lk = IncidentLink.__table__.c
        inserted = await session.execute(
            insert_ignore(session, IncidentLink).returning(lk.report_id, lk.assignee), links
        )
        new = {(report_id, assignee) for report_id, assignee in inserted}
        for order in orders:
            if (order.report_id, order.assignee) not in new:
                continue
            io = folding.incident_order_id(incident.incident_id, order.assignee)
            outgoing.append(
                await self.orders.set_status(session, order, reports[order.report_id], "merged", at, now, io)
            )
        for io in sorted(touched):
            outgoing.extend(await self.orders.refresh(session, incident, io, now=now, event_at=at))
        return outgoing

    # --- the timer: updates due when no further message came ----------------------------------------------------

    async def timer_keys(self, session: AsyncSession) -> set[tuple[str, str]]:
        """The incident keys with an update the timer may send (read without the locks; `send_timer_updates`
        decides again under them)."""
        return {(c, d) for _io, c, d in await self._timer_due(session)}

    async def send_timer_updates(self, session: AsyncSession, keys: set[tuple[str, str]]) -> list[Outgoing]:
        """The updates due on the wall clock for orders of these keys (their locks taken): reports joined since the
        last message, the interval passed, the order live. Under the key's lock and with the order's row read
        fresh, so two replicas' timers send each update once (its id `<order>/update/<seq>`)."""
        now = self.clock()
        outgoing: list[Outgoing] = []
        for io, category, district in await self._timer_due(session):
            if (category, district) not in keys:
                continue
            order = await session.get(IncidentOrder, io, populate_existing=True)
            row = await session.get(RouterIncident, order.incident_id) if order is not None else None
            if order is None or row is None or row.first_seen_at is None:
                continue
            outgoing.extend(await self.orders.refresh(session, live_incident(row), io, now=now, event_at=now))
        return outgoing

    async def _timer_due(self, session: AsyncSession) -> list[tuple[str, str, str]]:
        now = self.clock()
        o = IncidentOrder.__table__.c
        i = RouterIncident.__table__.c
        rows = await session.execute(
            select(o.work_order_id, o.sent_at, o.last_report_at, i.category, i.district)
            .select_from(IncidentOrder.__table__.join(RouterIncident.__table__, i.incident_id == o.incident_id))
            .where(
                o.pending > 0,
                o.sent_at <= now - self.update_interval,
                o.last_report_at >= now - self.update_interval - folding.TIMER_LIVE_LAG,
            )
            .order_by(o.work_order_id)
        )
        return [
            (io, category, district)
            for io, sent_at, last, category, district in rows
            if folding.timer_update_due(aware(sent_at), aware(last), now, self.update_interval)
        ]

    # --- staff: a report folded wrongly -------------------------------------------------------------------------

    async def unfold(
        self, session: AsyncSession, report_id: str, *, by: str, lock: bool = True, refresh: bool = True
    ) -> list[Outgoing]:
        """Take a report out of its incident orders: its merged orders are open again, or it gets its own orders
        now; each incident order's assignee is told at once. Nothing to do (empty) if it is not folded."""
        report = await session.get(Report, report_id)
        if report is None:
            raise LookupError(f"no report {report_id}")
        if lock and report.district:
            await self.lock(session, [(report.category, report.district)])
        lk = IncidentLink.__table__.c
        links = list(
            (
                await session.execute(
                    select(IncidentLink)
                    .where(lk.report_id == report_id, lk.unfolded_at.is_(None))
                    .order_by(lk.assignee)
                    .with_for_update()
                )
            ).scalars()
        )
        if not links:
            return []
        now = self.clock()
        await session.execute(
            update(IncidentLink)
            .where(lk.report_id == report_id, lk.unfolded_at.is_(None))
            .values(unfolded_at=now, unfolded_by=by[:200])
        )
        outgoing: list[Outgoing] = []
        filed = report_filed(report)
        for link in links:
            if link.merged_work_order_id:
                order = await session.get(WorkOrder, link.merged_work_order_id)
                if order is not None and order.status == "merged":
                    outgoing.append(await self.orders.set_status(session, order, report, "issued", now, now, None))
            else:
                outgoing.extend(await self.orders.issue_own(session, filed, report, link.assignee, now))
        if report.status == "closed":
            await session.execute(
                update(Report).where(Report.report_id == report_id).values(status="routed", closed_at=None)
            )
        if refresh:
            for link in links:
                incident = await session.get(RouterIncident, link.incident_id)
                if incident is not None:
                    outgoing.extend(
                        await self.orders.refresh(
                            session, live_incident(incident), link.work_order_id, now=now, unfolded=[report_id]
                        )
                    )
        return outgoing


def _candidate(report: Report) -> Candidate:
    return Candidate(
        report.report_id,
        report.category,
        report.district,
        report.street,
        report.house_number,
        report.lat,
        report.lon,
        report.waste_fraction,
        report.description,
        aware(report.filed_at),
    )


def _link(
    candidate: Candidate,
    assignee: str,
    io: str,
    incident: LiveIncident,
    how: str,
    merged: str | None,
    now: dt.datetime,
    reason: str,
) -> dict[str, object]:
    return {
        "report_id": candidate.report_id,
        "assignee": assignee,
        "work_order_id": io,
        "incident_id": incident.incident_id,
        "how": how,
        "merged_work_order_id": merged,
        "street": candidate.street,
        "house_number": candidate.house_number,
        "filed_at": candidate.filed_at,
        "linked_at": now,
        "announced": False,
        "reason": reason[:1000],
        "unfolded_at": None,
        "unfolded_by": None,
    }


def keys_of(messages: Iterable[SpikeDetected | SpikeResolved]) -> set[tuple[str, str]]:
    return {(m.category, m.district) for m in messages}


__all__ = ["IncidentFolding", "keys_of", "lock_name"]

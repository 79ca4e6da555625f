"""Status back from assignees (effects): apply a validated change, re-route rejections, escalate late acknowledgements.

Everything here runs inside a TransactionBatcher transaction: the inbox row, the change, its history row and the
messages it causes (outbox) commit together or not at all. A change that can never be applied raises
PermanentError before anything is written, so the DeliveryPolicy dead-letters it with the reason.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from consumers.contractors.rules import (
    OPEN_STATUSES,
    Sender,
    Verdict,
    ack_deadline,
    escalation_target,
    judge_change,
    sender_problem,
    vouched_sender,
)
from consumers.contractors.tables import WorkOrderEscalation, WorkOrderEvent
from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import TRIAGE, Assignee, Catalogue
from consumers.router.incident_records import linked_reports, merged_into, open_incident_order_of
from consumers.router.rules import RoutingDecision
from consumers.router.stored import report_filed
from consumers.router.tables import INCIDENT_KIND, Report, WorkOrder
from consumers.router.workorders import build_work_orders, insert_work_order, issued_message
from contracts import (
    ReportFiled,
    WorkOrderEscalated,
    WorkOrderStatus,
    WorkOrderStatusApplied,
    WorkOrderStatusChanged,
)
from infra.clock import aware, utcnow
from infra.consuming import HEADER_USER_ID
from infra.db.dialect import insert_ignore
from infra.errors import PermanentError
from infra.outbox import Outgoing
from infra.topology import CITY_EVENTS, workorder_escalated_routing_key

log = logging.getLogger(__name__)

ESCALATION_BATCH = 500
# The history note of an answer to a merged order (recorded, not applied; `StatusService._note_on_merged`).
NOT_APPLIED = "not applied"


@dataclass(frozen=True)
class StatusService:
    catalogue: Catalogue
    calendar: CityCalendar
    user_prefix: str
    trusted_users: frozenset[str]
    # The hub's own broker user: the one whose replays of dead letters may name their original sender.
    hub_user: str | None = None
    clock: Callable[[], dt.datetime] = utcnow

    def amqp_sender(self, user_id: str | None, headers: Mapping[str, object]) -> Sender:
        return vouched_sender(user_id, headers.get(HEADER_USER_ID), self.hub_user)

    @property
    def contractors(self) -> Sequence[str]:
        return [a.code for a in self.catalogue.assignees.values() if a.is_contractor]

    async def apply(
        self, session: AsyncSession, change: WorkOrderStatusChanged, message_id: str, sender: Sender
    ) -> list[Outgoing]:
        """Apply one status change if the sender, the work order and the state machine allow it.

        Long because it reads as the checklist it is, one refusal after another (sender, work order, transition, time), each with its own reason.
        """
        problem = sender_problem(
            change.assignee,
            sender,
            user_prefix=self.user_prefix,
            contractors=self.contractors,
            trusted_users=self.trusted_users,
        )
        if problem:
            raise PermanentError(problem)
        order = (
            await session.execute(
                select(WorkOrder).where(WorkOrder.work_order_id == change.work_order_id).with_for_update()
            )
        ).scalar_one_or_none()
        if order is None or order.assignee != change.assignee:
            # The same words whether the order does not exist or is another assignee's: a refusal (a callback's
            # answer) must not tell a contractor that a report exists, nor whom it went to.
            raise PermanentError(f"unknown work order {change.work_order_id}")
        if order.status == "merged":
            await self._note_on_merged(session, order, change, message_id, sender)
            return []
        current = WorkOrderStatus(order.status)
        current_planned_for, last_changed_at = await self._last_event(session, order.work_order_id)
        judgement = judge_change(current, change, current_planned_for, last_changed_at)
        if judgement.verdict == Verdict.REFUSE:
            raise PermanentError(f"work order {change.work_order_id}: {judgement.reason}")
        if judgement.verdict in (Verdict.REPEAT, Verdict.STALE):
            log.info("status %s, nothing to do", judgement.verdict, extra={"work_order_id": order.work_order_id})
            return []

        now = self.clock()
        await session.execute(
            update(WorkOrder)
            .where(WorkOrder.work_order_id == order.work_order_id)
            .values(status=change.status.value, updated_at=now)
        )
        session.add(
            WorkOrderEvent(
                work_order_id=order.work_order_id,
                message_id=message_id,
                previous_status=current.value,
                status=change.status.value,
                changed_at=change.changed_at.astimezone(dt.UTC),
                recorded_at=now,
                sender=sender.label()[:200],
                planned_for=change.planned_for if change.status == "planned" else None,
                reason=change.reason if change.status == "rejected" else None,
                note=change.note,
            )
        )
        report = (await session.execute(select(Report).where(Report.report_id == order.report_id))).scalar_one()
        outgoing: list[Outgoing] = []
        if change.status == "rejected" and order.assignee != TRIAGE:
            outgoing.extend(await self._reroute_to_triage(session, report, order, change, now, message_id))
            if order.kind == INCIDENT_KIND:
                # The incident order stood for every report folded into it: each goes back to triage with its own
                # order (deterministic ids: once each, whatever the replays), not only the one it was anchored on.
                for report_id in await linked_reports(session, order.work_order_id):
                    linked = await session.get(Report, report_id)
                    if linked is not None and linked.report_id != report.report_id:
                        outgoing.extend(await self._reroute_to_triage(session, linked, order, change, now, message_id))
        closed = False
        if change.status in ("done", "rejected") and not outgoing:
            closed = await self._close_report_if_finished(session, report, now)
        if change.status == "done" and order.kind == INCIDENT_KIND:
            # One job for the whole incident: done closes every report folded into it (whose other orders are done).
            for report_id in await linked_reports(session, order.work_order_id):
                linked = await session.get(Report, report_id)
                if linked is not None and linked.report_id != report.report_id and linked.status != "closed":
                    await self._close_report_if_finished(session, linked, now)
        applied = WorkOrderStatusApplied(
            work_order_id=order.work_order_id,
            report_id=order.report_id,
            assignee=order.assignee,
            category=order.category,
            waste_fraction=report.waste_fraction,
            district=report.district,
            previous_status=current,
            status=change.status,
            changed_at=change.changed_at,
            applied_at=now,
            planned_for=change.planned_for if change.status == "planned" else None,
            reason=change.reason if change.status == "rejected" else None,
            report_closed=closed,
        )
        outgoing.append(
            Outgoing.of(
                applied,
                exchange=CITY_EVENTS.name,
                routing_key=WorkOrderStatusApplied.routing_key,
                # Deterministic: a retried transaction emits the same id.
                message_id=f"applied-{message_id}"[:200],
                subject=order.work_order_id,
                correlation_id=message_id,
                time=now,
            )
        )
        return outgoing

    async def _note_on_merged(
        self, session: AsyncSession, order: WorkOrder, change: WorkOrderStatusChanged, message_id: str, sender: Sender
    ) -> None:
        """An answer to an order the hub merged into an incident order after the assignee got it (their answer
        crossed the merge): not an error, and not applied either (the incident order carries the job, and one
        address done is not the incident done). Recorded in the order's history, where `hub workorders show` and
        the agents' lookup show it; nothing is published, so the statistics keep the order as merged."""
        into = await merged_into(session, order.work_order_id)
        session.add(
            WorkOrderEvent(
                work_order_id=order.work_order_id,
                message_id=message_id,
                previous_status=order.status,
                status=order.status,
                changed_at=change.changed_at.astimezone(dt.UTC),
                recorded_at=self.clock(),
                sender=sender.label()[:200],
                note=f"{NOT_APPLIED}: {change.status.value} reported after the order was merged into incident order "
                f"{into or '(taken out since)'}; progress is followed on that one",
            )
        )
        log.info("status on a merged work order recorded, not applied", extra={"work_order_id": order.work_order_id})

    async def _last_event(self, session: AsyncSession, work_order_id: str) -> tuple[dt.date | None, dt.datetime | None]:
        """The plan date in force (if planned) and the assignee's time of the last applied change."""
        last = (
            await session.execute(
                select(WorkOrderEvent.status, WorkOrderEvent.planned_for, WorkOrderEvent.changed_at)
                .where(WorkOrderEvent.work_order_id == work_order_id)
                .order_by(WorkOrderEvent.id.desc())
                .limit(1)
            )
        ).first()
        if last is None:
            return None, None
        return (last.planned_for if last.status == "planned" else None), aware(last.changed_at)

    async def _close_report_if_finished(self, session: AsyncSession, report: Report, now: dt.datetime) -> bool:
        still_open = (
            await session.execute(
                select(WorkOrder.work_order_id)
                .where(WorkOrder.report_id == report.report_id, WorkOrder.status.in_([s.value for s in OPEN_STATUSES]))
                .limit(1)
            )
        ).first()
        if still_open is not None or await open_incident_order_of(session, report.report_id) is not None:
            return False
        await session.execute(
            update(Report).where(Report.report_id == report.report_id).values(status="closed", closed_at=now)
        )
        return True

    async def _reroute_to_triage(
        self,
        session: AsyncSession,
        report: Report,
        order: WorkOrder,
        change: WorkOrderStatusChanged,
        now: dt.datetime,
        message_id: str,
    ) -> list[Outgoing]:
        """A rejected work order sends its report back to ContactCenter triage: one triage order per report."""
        filed = self._report_filed(report)
        decision = RoutingDecision(
            rule_id=f"rejected-by-{order.assignee}",
            rule_line=0,
            assignees=(TRIAGE,),
            reasons=(f"{order.assignee} rejected work order {order.work_order_id}",),
            category_known=report.category_known,
        )
        (triage,) = build_work_orders(filed, decision, self.catalogue, self.calendar, now, report.rules_version)
        rejected_by = self.catalogue.assignee(order.assignee).name
        triage = triage.model_copy(
            update={
                "description": f"[Geweigerd door {rejected_by}: {change.reason}]\n{triage.description}",
                # Triage gets its own SLA from the rejection (its own time, so a replayed year keeps its dates):
                # the rejection is new work for it.
                "due_date": self.calendar.due_date(min(change.changed_at, now), triage.sla_working_days),
            }
        )
        if not await insert_work_order(session, triage, now=now):
            log.info("report already has a triage work order", extra={"work_order_id": triage.work_order_id})
            return []
        return [issued_message(triage, now, correlation_id=message_id)]

    @staticmethod
    def _report_filed(report: Report) -> ReportFiled:
        return report_filed(report)

    async def escalate_overdue(self, session: AsyncSession) -> list[Outgoing]:
        """Escalate, once each, the work orders still `issued` after their assignee's acknowledgement time.

        The escalation row's primary key makes it once with any number of replicas: a replica whose insert
        found the row already there emits nothing.
        """
        now = self.clock()
        outgoing: list[Outgoing] = []
        for assignee in self.catalogue.assignees.values():
            threshold = now - dt.timedelta(hours=assignee.ack_hours)
            rows = (
                await session.execute(
                    select(WorkOrder)
                    .where(
                        WorkOrder.assignee == assignee.code,
                        WorkOrder.status == "issued",
                        WorkOrder.issued_at <= threshold,
                        ~exists().where(WorkOrderEscalation.work_order_id == WorkOrder.work_order_id),
                    )
                    .order_by(WorkOrder.issued_at)
                    .limit(ESCALATION_BATCH)
                )
            ).scalars()
            target = escalation_target(assignee)
            orders = list(rows)
            if not orders:
                continue
            # One executemany of a constant statement for the round (a statement per row cost about a millisecond
            # of CPU each); RETURNING names the rows this replica inserted: only those are escalated by it.
            stmt = insert_ignore(session, WorkOrderEscalation).returning(WorkOrderEscalation.work_order_id)
            keys = [
                {"work_order_id": order.work_order_id, "escalated_to": target, "escalated_at": now}
                for order in sorted(orders, key=lambda o: o.work_order_id)
            ]
            inserted = set((await session.execute(stmt, keys)).scalars())
            for order in orders:
                if order.work_order_id not in inserted:
                    continue
                outgoing.append(_escalation(order, assignee, target, now))
        return outgoing


def _escalation(order: WorkOrder, assignee: Assignee, target: str, now: dt.datetime) -> Outgoing:
    """`workorder.escalated.<target>` for one order its assignee has not acknowledged in time."""
    issued_at = aware(order.issued_at)
    message = WorkOrderEscalated(
        work_order_id=order.work_order_id,
        report_id=order.report_id,
        assignee=assignee.code,
        assignee_name=assignee.name,
        escalated_to=target,
        category=order.category,
        status=WorkOrderStatus(order.status),
        issued_at=issued_at,
        ack_hours=assignee.ack_hours,
        ack_due_at=ack_deadline(issued_at, assignee),
        escalated_at=now,
        due_date=order.due_date,
    )
    return Outgoing.of(
        message,
        exchange=CITY_EVENTS.name,
        routing_key=workorder_escalated_routing_key(target),
        message_id=f"escalated-{order.work_order_id}",
        subject=order.work_order_id,
        time=now,
    )

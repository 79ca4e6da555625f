"""Personal data: erase a reporter's contact data everywhere the hub stored it, on request or after retention.

The hub keeps a reporter's name, phone and e-mail in exactly these places (statistics, spikes and alerts never
hold them, so an erasure changes no figure):
  * `reports.reporter_name`, `reporter_phone`, `reporter_email`;
  * outbox bodies of the report's work orders (`reporter`, only for assignees whose data policy allows it);
  * webhook and e-mail payloads of those work orders in `deliveries` (`reporter`, or `data.reporter` in a webhook
    envelope);
  * copies in the consumers' dead-letter queues (`ReportFiled` and `WorkOrderIssued` bodies).

An erasure is one database transaction: the report row, the outbox and delivery bodies (rewritten without
`reporter`), a `privacy_erasures` record (what was erased where, never the data) and, in the outbox, one
`ReporterDataErased` per work order that carried the data, to that assignee's queue. It starts with
`UPDATE reports ... WHERE report_id IN (...) AND <contact data present> RETURNING report_id`: of two replicas (or a
request racing the retention job) only the one whose UPDATE returned the row goes on, so nobody is notified twice.
Then the dead-letter queues: a copy is scrubbed when its report was erased (the records say so) or when it failed
longer ago than the retention period; the scrubbed copy is published (confirmed) before the original is acked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from sqlalchemy import ColumnElement, Table, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.contractors.tables import Delivery
from consumers.privacy.bodies import document, report_id_in, scrub_reporter, without_reporter
from consumers.privacy.tables import PrivacyErasure
from consumers.router.tables import Report, WorkOrder
from contracts import ErasureReason, ReporterDataErased
from infra import amqp
from infra.clock import utcnow
from infra.consuming import HEADER_FAILED_AT
from infra.db.dialect import chunks, insert_ignore
from infra.db.tables import OutboxMessage
from infra.outbox import OnCommit, OutboxWriter, Outgoing, filed_report_message_id
from infra.topology import CITY_EVENTS, dead_letter_queue_name, workorder_reporter_erased_routing_key

log = logging.getLogger(__name__)

HEADER_REPORTER_ERASED = "x-hub-reporter-erased"

_reports = cast(Table, Report.__table__).c
_orders = cast(Table, WorkOrder.__table__).c
_outbox = cast(Table, OutboxMessage.__table__).c
_NOTICES = "privacy.notices"
_deliveries = cast(Table, Delivery.__table__).c
_erasures = cast(Table, PrivacyErasure.__table__).c

_HAS_CONTACT = or_(
    _reports.reporter_name.is_not(None), _reports.reporter_phone.is_not(None), _reports.reporter_email.is_not(None)
)


@dataclass
class Erasure:
    """What one erasure did; recorded in `privacy_erasures` (ids and counts only)."""

    erasure_id: str
    report_id: str
    trigger: ErasureReason
    erased_at: dt.datetime
    report_erased: bool
    outbox_rows: int = 0
    delivery_rows: int = 0
    notified: list[str] = field(default_factory=list)
    dead_letters: int | None = None
    dead_letters_unreadable: int = 0
    """Dead letters that are no JSON object (broken, nested too deeply, ...): left as they are, counted."""
    dead_letters_error: str | None = None
    """Why the dead letters were not reached (dead_letters is None), e.g. the broker was unreachable."""


@dataclass
class RetentionResult:
    cutoff: dt.datetime
    due: int
    erased: list[str] = field(default_factory=list)
    sample: list[str] = field(default_factory=list)
    dead_letters: int | None = None
    dead_letters_unreadable: int = 0


@dataclass
class DeadLetterScrub:
    """One look at the dead-letter queues: how many copies were (or would be) scrubbed, and how many could not be
    read at all (no JSON object: skipped, left in their queue, never a reason to stop)."""

    scrubbed: int = 0
    unreadable: int = 0


@dataclass
class _Letter:
    message: AbstractIncomingMessage
    report_id: str | None
    failed_at: dt.datetime | None
    scrubbed: bytes

    @classmethod
    def of(cls, message: AbstractIncomingMessage, doc: dict[str, Any]) -> _Letter | None:
        scrubbed = without_reporter(doc)
        if scrubbed is None:
            return None
        return cls(message, report_id_in(doc), _failed_at(message), scrubbed)

    def copy(self, now: dt.datetime) -> aio_pika.Message:
        """The same dead letter without the reporter: headers (reason, original route) and ids kept.

        `user_id` is left out: RabbitMQ refuses a publish whose user_id is not the publishing user.
        """
        m = self.message
        return aio_pika.Message(
            self.scrubbed,
            headers={**(m.headers or {}), HEADER_REPORTER_ERASED: now.isoformat()},
            content_type=m.content_type,
            content_encoding=m.content_encoding,
            message_id=m.message_id,
            correlation_id=m.correlation_id,
            type=m.type,
            app_id=m.app_id,
            timestamp=m.timestamp,
            reply_to=m.reply_to,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )


def _failed_at(message: AbstractIncomingMessage) -> dt.datetime | None:
    raw = (message.headers or {}).get(HEADER_FAILED_AT)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        try:
            moment = dt.datetime.fromisoformat(raw)
        except ValueError:
            moment = None
        if moment is not None:
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    stamp = message.timestamp
    if stamp is None:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=dt.UTC)


Decide = Callable[[list[_Letter]], Awaitable[list[_Letter]]]


class PrivacyService:
    """Erases contact data by report id (`hub privacy erase`) and after the retention period (`hub privacy retention`)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        amqp_url: str,
        consumers: Sequence[str],
        retention_days: int,
        batch_size: int = 200,
        broker_timeout_s: float = 30.0,
        on_commit: OnCommit | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self.amqp_url = amqp_url
        self.consumers = tuple(consumers)
        self.retention_days = retention_days
        self.batch_size = batch_size
        self.broker_timeout_s = broker_timeout_s
        self._outbox = OutboxWriter(on_commit)
        self._clock = clock

    # --- on request ---

    async def erase(self, report_id: str, *, trigger: ErasureReason = ErasureReason.REQUEST) -> Erasure:
        """Erase one report's contact data in the database, notify its assignees, then scrub the dead letters."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            (erasure,) = await self._erase(session, [report_id], trigger, now, record_all=True)
        self._committed(session, now)
        try:
            scrub = await self.scrub_dead_letters()
        except Exception as exc:
            # The database part stands; the record says the dead letters are still to do (NULL), a rerun does them.
            erasure.dead_letters_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.warning(
                "dead letters not scrubbed: %s: %s",
                type(exc).__name__,
                exc,
                extra={"report_id": report_id, "erasure_id": erasure.erasure_id},
            )
        else:
            erasure.dead_letters, erasure.dead_letters_unreadable = scrub.scrubbed, scrub.unreadable
            async with self._sessions() as session, session.begin():
                await session.execute(
                    update(PrivacyErasure)
                    .where(_erasures.erasure_id == erasure.erasure_id)
                    .values(dead_letters=erasure.dead_letters)
                )
        log.info(
            "contact data erased",
            extra={
                "report_id": report_id,
                "erasure_id": erasure.erasure_id,
                "trigger": trigger.value,
                "report_erased": erasure.report_erased,
                "outbox_rows": erasure.outbox_rows,
                "delivery_rows": erasure.delivery_rows,
                "dead_letters": erasure.dead_letters,
                "dead_letters_unreadable": erasure.dead_letters_unreadable,
                "notified": erasure.notified,
            },
        )
        return erasure

    # --- retention ---

    def cutoff(self, now: dt.datetime) -> dt.datetime:
        return now - dt.timedelta(days=self.retention_days)

    async def retention(self, *, apply: bool, sweep_dead_letters: bool = True) -> RetentionResult:
        """Erase (or with apply=False only count) contact data of reports closed before the retention cutoff."""
        now = self._clock()
        cutoff = self.cutoff(now)
        due_where = and_(_reports.closed_at.is_not(None), _reports.closed_at < cutoff, _HAS_CONTACT)
        async with self._sessions() as session:
            due = int((await session.execute(select(func.count()).select_from(Report).where(due_where))).scalar_one())
            sample = list(
                (
                    await session.execute(
                        select(_reports.report_id).where(due_where).order_by(_reports.closed_at).limit(20)
                    )
                ).scalars()
            )
        result = RetentionResult(cutoff=cutoff, due=due, sample=sample)
        if not apply:
            if sweep_dead_letters:
                # Also the copies of the reports that are due: they would be erased now.
                due_ids = set(await self._due_ids(due_where, limit=None))
                scrub = await self.scrub_dead_letters(older_than=cutoff, also=due_ids, apply=False)
                result.dead_letters, result.dead_letters_unreadable = scrub.scrubbed, scrub.unreadable
            return result
        for _ in range(max(1, due // self.batch_size + 2)):
            erased, full = await self._retention_batch(due_where, now)
            result.erased += erased
            if not full:
                break
        if sweep_dead_letters:
            scrub = await self.scrub_dead_letters(older_than=cutoff)
            result.dead_letters, result.dead_letters_unreadable = scrub.scrubbed, scrub.unreadable
        if result.erased:
            log.info(
                "retention erased contact data of %d report(s)",
                len(result.erased),
                extra={"cutoff": cutoff.isoformat(), "dead_letters": result.dead_letters},
            )
        return result

    async def _due_ids(self, due_where: ColumnElement[bool], *, limit: int | None, lock: bool = False) -> list[str]:
        async with self._sessions() as session:
            return await self._select_due(session, due_where, limit=limit, lock=lock)

    @staticmethod
    async def _select_due(
        session: AsyncSession, due_where: ColumnElement[bool], *, limit: int | None, lock: bool
    ) -> list[str]:
        stmt = select(_reports.report_id).where(due_where).order_by(_reports.closed_at, _reports.report_id)
        if limit is not None:
            stmt = stmt.limit(limit)
        if lock:
            stmt = stmt.with_for_update(skip_locked=True)
        return list((await session.execute(stmt)).scalars())

    async def _retention_batch(self, due_where: ColumnElement[bool], now: dt.datetime) -> tuple[list[str], bool]:
        """One transaction of at most `batch_size` reports; (erased ids, whether a full batch was due)."""
        async with self._sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                # Another replica's batch is skipped, not waited for: no two replicas block on (or deadlock over)
                # the same rows, and the UPDATE's guard still erases each report once.
                async with session.begin():
                    ids = await self._select_due(session, due_where, limit=self.batch_size, lock=True)
                    erasures = await self._erase(
                        session, ids, ErasureReason.RETENTION, now, record_all=False, guard=due_where
                    )
            else:
                # SQLite: read, then a transaction that starts with its write (a read upgraded to a write fails at
                # once when another process committed in between); the UPDATE's guard makes the stale read harmless.
                async with session.begin():
                    ids = await self._select_due(session, due_where, limit=self.batch_size, lock=False)
                async with session.begin():
                    erasures = await self._erase(
                        session, ids, ErasureReason.RETENTION, now, record_all=False, guard=due_where
                    )
        self._committed(session, now)
        return [e.report_id for e in erasures], len(ids) >= self.batch_size

    # --- the database part, in the caller's transaction ---

    async def _erase(
        self,
        session: AsyncSession,
        report_ids: Sequence[str],
        trigger: ErasureReason,
        now: dt.datetime,
        *,
        record_all: bool,
        guard: ColumnElement[bool] | None = None,
    ) -> list[Erasure]:
        """Erase the contact data of these reports in the caller's transaction; the erasures made.

        Long because every table holding the reports' contact data is scrubbed in one transaction, with the record
        and the notices of that same erasure.
        """
        if not report_ids:
            return []
        ids = sorted(set(report_ids))
        condition = and_(_reports.report_id.in_(ids), _HAS_CONTACT)
        if guard is not None:
            condition = and_(condition, guard)
        # First statement of the transaction, and the one that decides: only the rows it returns are ours.
        erased = set(
            (
                await session.execute(
                    update(cast(Table, Report.__table__))
                    .where(condition)
                    .values(reporter_name=None, reporter_phone=None, reporter_email=None)
                    .returning(_reports.report_id)
                )
            ).scalars()
        )
        # Outbox and delivery bodies of every requested report: a rerun finds and fixes what a crash left behind.
        orders = (
            await session.execute(
                select(_orders.work_order_id, _orders.report_id, _orders.assignee, _orders.includes_contact).where(
                    _orders.report_id.in_(ids)
                )
            )
        ).all()
        report_of = {o.work_order_id: o.report_id for o in orders}
        # A report the hub filed itself (Open311) has its `report.filed` in the outbox too, reporter and all.
        filed = {filed_report_message_id(report_id): report_id for report_id in ids}
        outbox_rows = await self._scrub_rows(
            session, OutboxMessage, _outbox.message_id, [*report_of, *filed], {**report_of, **filed}
        )
        delivery_rows = await self._scrub_rows(session, Delivery, _deliveries.work_order_id, list(report_of), report_of)
        erasures: list[Erasure] = []
        outgoing: list[Outgoing] = []
        for report_id in ids:
            if report_id not in erased and not record_all:
                continue
            erasure = Erasure(
                erasure_id=f"era-{uuid.uuid4().hex}",
                report_id=report_id,
                trigger=trigger,
                erased_at=now,
                report_erased=report_id in erased,
                outbox_rows=outbox_rows.get(report_id, 0),
                delivery_rows=delivery_rows.get(report_id, 0),
            )
            if erasure.report_erased:
                # Those who received the contact data: work orders issued under a policy that allowed it.
                for order in sorted(orders, key=lambda o: o.work_order_id):
                    if order.report_id != report_id or not order.includes_contact:
                        continue
                    erasure.notified.append(order.assignee)
                    outgoing.append(self._notice(erasure, order.work_order_id, order.assignee))
            erasures.append(erasure)
        if erasures:
            await session.execute(
                insert_ignore(session, PrivacyErasure),
                [
                    {
                        "erasure_id": e.erasure_id,
                        "report_id": e.report_id,
                        "trigger": e.trigger.value,
                        "erased_at": e.erased_at,
                        "report_erased": e.report_erased,
                        "outbox_rows": e.outbox_rows,
                        "delivery_rows": e.delivery_rows,
                        "dead_letters": None,
                        "notified": e.notified,
                    }
                    for e in erasures
                ],
            )
        if outgoing:
            session.info.setdefault(_NOTICES, []).extend(await self._outbox.write(session, outgoing, now))
        return erasures

    @staticmethod
    async def _scrub_rows(
        session: AsyncSession,
        model: type[OutboxMessage] | type[Delivery],
        key: Any,
        work_order_ids: list[str],
        report_of: dict[str, str],
    ) -> dict[str, int]:
        """Rewrite the bodies that hold a reporter; per report, how many rows were rewritten."""
        table = cast(Table, model.__table__)
        changed: dict[str, int] = {}
        for chunk in chunks(work_order_ids):
            rows = (await session.execute(select(table.c.id, key, table.c.body).where(key.in_(chunk)))).all()
            for row_id, work_order_id, body in rows:
                scrubbed = scrub_reporter(body)
                if scrubbed is None:
                    continue
                await session.execute(update(table).where(table.c.id == row_id).values(body=scrubbed))
                report_id = report_of[work_order_id]
                changed[report_id] = changed.get(report_id, 0) + 1
        return changed

    @staticmethod
    def _notice(erasure: Erasure, work_order_id: str, assignee: str) -> Outgoing:
        notice = ReporterDataErased(
            erasure_id=erasure.erasure_id,
            work_order_id=work_order_id,
            report_id=erasure.report_id,
            assignee=assignee,
            reason=erasure.trigger,
            erased_at=erasure.erased_at,
        )
        return Outgoing.of(
            notice,
            exchange=CITY_EVENTS.name,
            routing_key=workorder_reporter_erased_routing_key(assignee),
            # One notice per erasure and work order: a replica or a rerun that erased nothing sends nothing.
            message_id=f"{erasure.erasure_id}/{work_order_id}",
            subject=erasure.report_id,
            time=erasure.erased_at,
        )

    def _committed(self, session: AsyncSession, now: dt.datetime) -> None:
        """After the commit: the assignees' notices go to the relay's hand-off."""
        self._outbox.hand_off(session.info.pop(_NOTICES, []), now)

    async def erased_report_ids(self, report_ids: Iterable[str]) -> set[str]:
        """Which of these reports were ever erased (on request or by retention), from the records."""
        wanted = sorted(set(report_ids))
        found: set[str] = set()
        async with self._sessions() as session:
            for chunk in chunks(wanted):
                found |= set(
                    (
                        await session.execute(
                            select(_erasures.report_id).where(_erasures.report_id.in_(chunk)).distinct()
                        )
                    ).scalars()
                )
        return found

    # --- dead-letter copies on the broker ---

    async def scrub_dead_letters(
        self, *, older_than: dt.datetime | None = None, also: set[str] | None = None, apply: bool = True
    ) -> DeadLetterScrub:
        """Scrub the dead letters of erased reports (and those that failed before `older_than`): how many, and how many
        could not be read (skipped: one such letter never stops the scrub of the others or of the other queues)."""

        async def decide(letters: list[_Letter]) -> list[_Letter]:
            erased = (await self.erased_report_ids(x.report_id for x in letters if x.report_id)) | (also or set())
            return [
                x
                for x in letters
                if (x.report_id is not None and x.report_id in erased)
                or (older_than is not None and x.failed_at is not None and x.failed_at < older_than)
            ]

        total = DeadLetterScrub()
        connection = await amqp.connect(self.amqp_url, "privacy", timeout=self.broker_timeout_s)
        async with connection:
            for consumer in self.consumers:
                channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
                try:
                    async with asyncio.timeout(self.broker_timeout_s):
                        name = dead_letter_queue_name(consumer)
                        scrubbed, unreadable = await self._scrub_queue(channel, name, decide, apply=apply)
                    total.scrubbed += scrubbed
                    total.unreadable += unreadable
                    if unreadable:
                        log.warning("%d unreadable dead letter(s) in %s skipped (no JSON object)", unreadable, name)
                except aio_pika.exceptions.ChannelNotFoundEntity:
                    continue  # this consumer's queues were never declared here
                finally:
                    if not channel.is_closed:
                        await channel.close()
        return total

    async def _scrub_queue(
        self, channel: AbstractChannel, name: str, decide: Decide, *, apply: bool
    ) -> tuple[int, int]:
        """(scrubbed, unreadable) in one dead-letter queue."""
        queue = await channel.declare_queue(name, passive=True)
        ready = int(queue.declaration_result.message_count or 0)
        if not ready:
            return 0, 0
        # Everything is taken (unacked, so nothing is lost if we die) and judged together: one records lookup.
        taken: list[AbstractIncomingMessage] = []
        settled: set[int] = set()
        try:
            while len(taken) < ready and (message := await queue.get(no_ack=False, fail=False)) is not None:
                taken.append(message)
            letters: list[_Letter] = []
            unreadable = 0
            for m in taken:
                doc = document(m.body)
                if doc is None:
                    unreadable += 1
                elif (letter := _Letter.of(m, doc)) is not None:
                    letters.append(letter)
            chosen = await decide(letters)
            if not apply:
                return len(chosen), unreadable
            now = self._clock()
            for letter in chosen:
                # Confirmed copy first, then the original goes: a crash in between leaves two copies, never none.
                await channel.default_exchange.publish(letter.copy(now), routing_key=name, mandatory=True)
                await letter.message.ack()
                settled.add(id(letter.message))
            return len(chosen), unreadable
        finally:
            for message in taken:
                if id(message) not in settled:
                    await message.nack(requeue=True)


class RetentionJob:
    """The periodic retention round of `hub run`: the database every round; the dead-letter queues when that round
    erased something, else at most every `sweep_every_s`, the first time `first_sweep_after_s` after start.

    Each look at a dead-letter queue takes its messages for a moment and returns the untouched ones: not at every
    start (an operator inspecting a DLQ right after a deploy would see it flicker), and rarely, because copies that
    failed more than the retention period ago are not in a hurry.
    """

    def __init__(
        self, service: PrivacyService, *, sweep_every_s: float = 86_400.0, first_sweep_after_s: float = 600.0
    ) -> None:
        self.service = service
        self.sweep_every_s = sweep_every_s
        self._next_sweep = time.monotonic() + min(first_sweep_after_s, sweep_every_s)

    async def __call__(self) -> RetentionResult:
        result = await self.service.retention(apply=True, sweep_dead_letters=False)
        now = time.monotonic()
        if result.erased or now >= self._next_sweep:
            scrub = await self.service.scrub_dead_letters(older_than=result.cutoff)
            result.dead_letters, result.dead_letters_unreadable = scrub.scrubbed, scrub.unreadable
            self._next_sweep = now + self.sweep_every_s
        return result

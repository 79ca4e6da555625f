"""Personal data (reliability item 12): erased by report id everywhere the hub stored it; statistics do not change.

Retention erases contact data of reports closed longer ago than the retention period, once, whatever the replicas.
Run on SQLite and PostgreSQL against the real broker.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import re
import uuid
import zlib
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.contractors.tables import Delivery
from consumers.privacy.service import PrivacyService, RetentionJob
from consumers.privacy.tables import PrivacyErasure
from consumers.router.handler import RoutingService
from consumers.router.tables import Report, WorkOrder
from consumers.stats.rebuild import counter_snapshot
from consumers.stats.tables import StatReport, StatWorkOrder
from contracts import ReporterContact, ReporterDataErased, ReportFiled
from hub.bootstrap import Domain, build_hub
from hub.settings import CONFIG_DIR, ConsumingSettings, HubDomainSettings, MetricsSettings, Settings
from hub.topology import CONSUMERS, hub_topology
from infra.batcher import TransactionBatcher
from infra.consuming import HEADER_CONSUMER, HEADER_ERROR, HEADER_FAILED_AT
from infra.db import create_engine, create_session_factory
from infra.db.metadata import load_all_tables
from infra.db.tables import OutboxMessage
from infra.deadletters import DeadLetterQueue
from infra.metrics import sample_queues
from infra.topology import DEAD_LETTER_EXCHANGE, consumer_queue_name, declare_topology, workorder_queue_name
from tests.support import CitySystem, drain_queue, make_report, until
from tests.support import hub_cli as support_cli

pytestmark = pytest.mark.integration

DOMAIN = Domain.load(Settings())
ROUTING = RoutingService(DOMAIN.catalogue, DOMAIN.rules, DOMAIN.calendar)


def person(run: str, who: str) -> ReporterContact:
    """Contact data found nowhere else in the database, so a scan for it proves where it is (or is not)."""
    digits = zlib.crc32(f"{who}/{run}".encode()) % 10**8
    return ReporterContact(name=f"{who} {run}", phone=f"+32 4{digits:08d}", email=f"{who.lower()}.{run}@example.be")


def pii(contact: ReporterContact) -> list[str]:
    return [str(v) for v in (contact.name, contact.phone, contact.email) if v]


def report_by(run: str, index: int, category: str, contact: ReporterContact) -> ReportFiled:
    report = make_report(random.Random(index), index, run=run, category=category)
    return report.model_copy(update={"reporter": contact})


def assignees_with_other_channels(tmp_path: Path) -> Path:
    """The catalogue, but the Technische dienst takes its work orders by e-mail and the Milieudienst by webhook:
    the deliveries consumer then stores their payloads (with the contact data their policy allows)."""
    text = (CONFIG_DIR / "assignees.yaml").read_text()
    text = re.sub(r"(code: technische_dienst\n(?:    .*\n)*?    channel: )queue", r"\1email", text)
    text = re.sub(
        r"(code: milieudienst\n(?:    .*\n)*?    channel: )queue",
        r"\1webhook\n    webhook_url: https://milieudienst.example.be/hooks/hub",
        text,
    )
    path = tmp_path / "assignees.yaml"
    path.write_text(text)
    return path


async def hub_cli(*args: str, amqp_url: str, database_url: str) -> tuple[int, str]:
    return await support_cli(*args, env={"HUB_AMQP_URL": amqp_url, "HUB_DATABASE_URL": database_url})


async def purge(amqp_url: str, queues: list[str]) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for name in queues:
            await (await channel.get_queue(name, ensure=True)).purge()


async def count(sessions: async_sessionmaker[AsyncSession], stmt: Any) -> int:
    async with sessions() as session:
        return int((await session.execute(stmt)).scalar_one())


async def where_is(sessions: async_sessionmaker[AsyncSession], needles: list[str]) -> set[str]:
    """Every `table.column` of the whole database that holds one of `needles`."""
    found: set[str] = set()
    async with sessions() as session:
        for table in load_all_tables().sorted_tables:
            for row in (await session.execute(select(table))).mappings():
                for column, value in row.items():
                    if isinstance(value, bytes):
                        text = value.decode("utf-8", "replace")
                    elif isinstance(value, dict | list):
                        text = json.dumps(value, ensure_ascii=False)
                    else:
                        text = str(value)
                    if any(n in text for n in needles):
                        found.add(f"{table.name}.{column}")
    return found


async def stats_figures(sessions: async_sessionmaker[AsyncSession]) -> tuple[Any, int, int]:
    async with sessions() as session:
        counters = await counter_snapshot(session)
    return (
        counters,
        await count(sessions, select(func.count()).select_from(StatReport)),
        await count(sessions, select(func.count()).select_from(StatWorkOrder)),
    )


async def dead_letter(amqp_url: str, consumer: str, body: bytes, message_id: str, failed_at: dt.datetime) -> None:
    """A copy in a consumer's dead-letter queue, as the delivery policy writes it."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(DEAD_LETTER_EXCHANGE.name, ensure=False)
        headers = {
            HEADER_ERROR: "TimeoutError: database",
            HEADER_CONSUMER: consumer,
            HEADER_FAILED_AT: failed_at.isoformat(),
            "cloudEvents:id": message_id,
        }
        await exchange.publish(
            aio_pika.Message(body, message_id=message_id, headers=headers, content_type="application/json"),
            routing_key=consumer_queue_name(consumer),
        )


async def test_erase_on_request_removes_contact_data_everywhere_and_notifies_who_received_it(
    clean_broker: str, database_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    victim_contact, bystander_contact = person(run, "Erase"), person(run, "Keep")
    # Illegal dumping: the Technische dienst clears it, the Milieudienst investigates; both may see the reporter.
    victim = report_by(run, 1, "waste.illegal_dumping", victim_contact)
    bystander = report_by(run, 2, "waste.illegal_dumping", bystander_contact)
    # A contractor's work order never carries the reporter: nothing to erase there, nobody to notify.
    contractor = report_by(run, 3, "waste.missed_collection", person(run, "Other"))
    victim_orders = {o.work_order_id: o.assignee for o in ROUTING.work_orders(victim)}
    assert sorted(victim_orders.values()) == ["milieudienst", "technische_dienst"]
    all_orders = [o for r in (victim, bystander, contractor) for o in ROUTING.work_orders(r)]
    by_delivery = {"technische_dienst", "milieudienst"} | {
        a.code for a in DOMAIN.catalogue.assignees.values() if a.channel != "queue"
    }
    deliveries = sum(o.assignee in by_delivery for o in all_orders)
    settings = Settings(
        amqp_url=clean_broker,
        database_url=database_url,
        consuming=ConsumingSettings(retry_delay_ms=500),
        metrics=MetricsSettings(port=0),
        domain=HubDomainSettings(assignees_file=assignees_with_other_channels(tmp_path)),
    )
    hub = build_hub(settings, consumers=["router", "stats", "deliveries"])
    await hub.start()
    sessions = hub.sessions
    try:
        async with CitySystem(clean_broker) as city:
            for report in (victim, bystander, contractor):
                await city.publish_report(report)
        now = dt.datetime.now(dt.UTC)
        # Dead-letter copies: the victim's report in the statistics' DLQ, the bystander's and a broken body in the
        # router's (neither may be touched).
        await dead_letter(clean_broker, "stats", victim.model_dump_json().encode(), f"dl-victim-{run}", now)
        await dead_letter(clean_broker, "router", bystander.model_dump_json().encode(), f"dl-bystander-{run}", now)
        await dead_letter(clean_broker, "router", b'{"report_id": "broken', f"dl-broken-{run}", now)

        pending = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))

        async def settled() -> bool:
            return (
                await count(sessions, select(func.count()).select_from(StatWorkOrder)) == len(all_orders)
                and await count(sessions, select(func.count()).select_from(Delivery)) == deliveries
                and await count(sessions, pending) == 0
            )

        await until(settled, "reports routed, counted and delivered")
        # The assignees read their queues: what they received is theirs now; only the notices should come later.
        await purge(clean_broker, [workorder_queue_name(a) for a in DOMAIN.catalogue.assignees])
        before = await stats_figures(sessions)
        assert await where_is(sessions, pii(victim_contact)) == {
            "reports.reporter_name",
            "reports.reporter_phone",
            "reports.reporter_email",
            "outbox.body",
            "deliveries.body",
        }

        code, output = await hub_cli(
            "privacy", "erase", "--report", victim.report_id, amqp_url=clean_broker, database_url=database_url
        )
        assert code == 0, output
        (notified_line,) = [line for line in output.splitlines() if "assignees notified:" in line]
        assert set(notified_line.split(":", 1)[1].strip().split(", ")) == {"milieudienst", "technische_dienst"}
        assert not any(p in output for p in pii(victim_contact))

        # Nowhere in the database any more; the bystander's data and the contractor's report are untouched.
        assert await where_is(sessions, pii(victim_contact)) == set()
        assert await where_is(sessions, [victim_contact.name or ""]) == set()
        assert "reports.reporter_name" in await where_is(sessions, pii(bystander_contact))
        async with sessions() as session:
            row = (await session.execute(select(Report).where(Report.report_id == victim.report_id))).scalar_one()
            assert (row.reporter_name, row.reporter_phone, row.reporter_email) == (None, None, None)
            records = (
                (await session.execute(select(PrivacyErasure).where(PrivacyErasure.report_id == victim.report_id)))
                .scalars()
                .all()
            )
            bodies = [
                json.loads(b)
                for b in (
                    await session.execute(select(OutboxMessage.body).where(OutboxMessage.message_id.in_(victim_orders)))
                ).scalars()
            ]
            payloads = [
                json.loads(b)
                for b in (
                    await session.execute(select(Delivery.body).where(Delivery.work_order_id.in_(victim_orders)))
                ).scalars()
            ]
        # The work orders themselves are intact, just without the reporter (webhook envelopes included).
        assert len(bodies) == 2
        assert all("reporter" not in b and b["report_id"] == victim.report_id for b in bodies)
        assert len(payloads) == 2
        assert all("reporter" not in p.get("data", p) and victim.report_id in json.dumps(p) for p in payloads)
        (record,) = records
        assert record.trigger == "request"
        assert record.report_erased
        assert (record.outbox_rows, record.delivery_rows, record.dead_letters) == (2, 2, 1)
        assert sorted(record.notified) == ["milieudienst", "technische_dienst"]

        # Dead letters: the victim's copy scrubbed, with its id, reason and route; the others as they were.
        (victim_letter,) = await DeadLetterQueue(clean_broker, "stats").peek()
        assert victim_letter.message_id == f"dl-victim-{run}"
        assert victim_letter.error == "TimeoutError: database"
        assert "reporter" not in json.loads(victim_letter.body)
        assert json.loads(victim_letter.body)["report_id"] == victim.report_id
        assert not any(p.encode() in victim_letter.body for p in pii(victim_contact))
        router_letters = {letter.message_id: letter for letter in await DeadLetterQueue(clean_broker, "router").peek()}
        assert set(router_letters) == {f"dl-bystander-{run}", f"dl-broken-{run}"}
        assert router_letters[f"dl-bystander-{run}"].body == bystander.model_dump_json().encode()

        # Those who received the data are told, once each, on their own queue; nobody else. The command published
        # the notices itself before it returned (with confirms: they are on their queues now), not a relay later.
        assert await count(sessions, pending) == 0
        depths = {
            q.queue: q.messages
            for q in await sample_queues(clean_broker, [workorder_queue_name(a) for a in DOMAIN.catalogue.assignees])
        }
        assert {q: n for q, n in depths.items() if n} == {workorder_queue_name(a): 1 for a in victim_orders.values()}
        notices: dict[str, list[dict[str, Any]]] = {}
        for assignee in victim_orders.values():
            drained = await drain_queue(clean_broker, workorder_queue_name(assignee), expect=1, settle=0)
            notices[assignee] = drained.bodies
        received = {
            a: [ReporterDataErased.model_validate(b) for b in bodies] for a, bodies in notices.items() if bodies
        }
        assert {a: [(n.work_order_id, n.report_id, n.reason.value) for n in ns] for a, ns in received.items()} == {
            assignee: [(wo, victim.report_id, "request")] for wo, assignee in victim_orders.items()
        }

        # Statistics: not one figure changed.
        assert await stats_figures(sessions) == before

        # Again: nothing left to erase, nobody notified twice, the request still recorded.
        privacy = PrivacyService(sessions, amqp_url=clean_broker, consumers=CONSUMERS, retention_days=365)
        again = await privacy.erase(victim.report_id)
        assert (again.report_erased, again.outbox_rows, again.delivery_rows, again.notified) == (False, 0, 0, [])
        assert again.dead_letters == 0
        notice_rows = (
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.routing_key.like("%.reporter_erased.%"))
        )
        assert await count(sessions, notice_rows) == 2
        assert await count(sessions, select(func.count()).select_from(PrivacyErasure)) == 2
    finally:
        await hub.stop()


async def _route(sessions: async_sessionmaker[AsyncSession], reports: list[ReportFiled]) -> None:
    batcher = TransactionBatcher("router", sessions, max_wait_s=0)
    try:
        for report in reports:
            mid = f"m-{report.report_id}"
            await batcher.submit(mid, lambda s, r=report, m=mid: ROUTING.apply(s, r, m))
    finally:
        await batcher.stop()


async def test_retention_erases_reports_closed_long_ago_once_whatever_the_replicas(
    clean_broker: str, database_url: str
) -> None:
    run = uuid.uuid4().hex[:8]
    old, recent, still_open = (
        report_by(run, i, "waste.illegal_dumping", person(run, who))
        for i, who in enumerate(("Old", "Recent", "Open"), start=1)
    )
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    await declare_topology(
        clean_broker,
        hub_topology(CONSUMERS, DOMAIN.catalogue.assignees),
        retry_delay_ms=500,
        delivery_limit=20,
    )
    try:
        await _route(sessions, [old, recent, still_open])
        now = dt.datetime.now(dt.UTC)
        async with sessions() as session, session.begin():
            for report, closed in ((old, now - dt.timedelta(days=400)), (recent, now - dt.timedelta(days=10))):
                await session.execute(
                    update(Report).where(Report.report_id == report.report_id).values(status="closed", closed_at=closed)
                )
        # Dead letters: one of a report that is not due but failed longer ago than the retention period (scrubbed
        # by age), one recent of the open report (kept).
        await dead_letter(
            clean_broker, "stats", recent.model_dump_json().encode(), f"dl-aged-{run}", now - dt.timedelta(days=400)
        )
        await dead_letter(clean_broker, "stats", still_open.model_dump_json().encode(), f"dl-fresh-{run}", now)

        code, output = await hub_cli(
            "privacy", "retention", "--dry-run", amqp_url=clean_broker, database_url=database_url
        )
        assert code == 0, output
        assert f"would erase: 1 report(s): {old.report_id}" in output
        assert "dead letters that would be scrubbed: 1" in output
        assert "nothing changed" in output
        assert await where_is(sessions, pii(person(run, "Old"))) == {
            "reports.reporter_name",
            "reports.reporter_phone",
            "reports.reporter_email",
            "outbox.body",
        }
        assert len(await DeadLetterQueue(clean_broker, "stats").peek()) == 2

        # Two replicas at once: each report is erased once, recorded once, its assignees told once.
        replicas = [
            PrivacyService(sessions, amqp_url=clean_broker, consumers=CONSUMERS, retention_days=365, batch_size=1)
            for _ in range(2)
        ]
        results = await asyncio.gather(*(r.retention(apply=True) for r in replicas))
        assert sorted(e for r in results for e in r.erased) == [old.report_id]
        assert sum(r.dead_letters or 0 for r in results) == 1

        assert await where_is(sessions, pii(person(run, "Old"))) == set()
        for who in ("Recent", "Open"):
            assert "reports.reporter_name" in await where_is(sessions, pii(person(run, who)))
        async with sessions() as session:
            records = (await session.execute(select(PrivacyErasure))).scalars().all()
            notices = [
                ReporterDataErased.model_validate_json(b)
                for b in (
                    await session.execute(
                        select(OutboxMessage.body).where(OutboxMessage.routing_key.like("workorder.reporter_erased.%"))
                    )
                ).scalars()
            ]
            contact_orders = (
                await session.execute(
                    select(func.count())
                    .select_from(WorkOrder)
                    .where(WorkOrder.report_id == old.report_id, WorkOrder.includes_contact.is_(True))
                )
            ).scalar_one()
        assert [(r.report_id, r.trigger, r.report_erased) for r in records] == [(old.report_id, "retention", True)]
        assert len(notices) == contact_orders == 2
        assert {(n.report_id, n.reason.value) for n in notices} == {(old.report_id, "retention")}
        letters = {letter.message_id: letter for letter in await DeadLetterQueue(clean_broker, "stats").peek()}
        assert set(letters) == {f"dl-aged-{run}", f"dl-fresh-{run}"}
        assert "reporter" not in json.loads(letters[f"dl-aged-{run}"].body)
        assert letters[f"dl-fresh-{run}"].body == still_open.model_dump_json().encode()

        # A later round (the periodic job of `hub run`) finds nothing more to do; it looks at the dead-letter
        # queues only now and then, not at every start.
        assert (await RetentionJob(replicas[0])()).dead_letters is None
        again = await RetentionJob(replicas[0], first_sweep_after_s=0)()
        assert (again.due, again.erased, again.dead_letters) == (0, [], 0)
        assert await count(sessions, select(func.count()).select_from(PrivacyErasure)) == 1
    finally:
        await engine.dispose()

"""One incident, one job (issue 17), on the real RabbitMQ and PostgreSQL: a live incident's reports fold into one
incident order per assignee, delivered once with throttled updates; a report elsewhere keeps its own order; done on
the incident order closes every report; two router replicas make one incident order.

The spikes consumer's messages are published as it publishes them (`spike.detected`, `spike.resolved` on
`city.events`), so each test decides exactly when the incident starts and ends in event time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from consumers.contractors.rules import Sender
from consumers.contractors.tables import WorkOrderEvent
from consumers.domain.catalogue import TRIAGE
from consumers.router.folding import incident_order_id
from consumers.router.tables import IncidentLink, IncidentOrder, Report, WorkOrder
from contracts import ReportFiled, SpikeDetected, SpikeResolved, WorkOrderStatus, WorkOrderStatusChanged
from hub.bootstrap import Hub, build_hub, build_routing_service, build_status_service
from hub.http import create_http_app
from hub.settings import ContractorsSettings, HubDomainSettings, MetricsSettings, Settings
from infra import cloudevents
from infra.batcher import TransactionBatcher
from infra.db import create_engine, create_session_factory
from infra.db.tables import OutboxMessage
from infra.topology import workorder_queue_name
from infra.webhooks import generate_secret
from tests.contractors_support import Receiver, write_assignees
from tests.support import BRUSSELS, CitySystem, drain_queue, hub_cli, until

pytestmark = pytest.mark.integration

START = dt.datetime(2021, 3, 15, 9, 0, tzinfo=BRUSSELS)  # a Monday: the paper round in Brustem was missed
NEAR = ("Brustemsesteenweg", "Kerkstraat", "Vliegveldlaan")  # Vliegveldlaan: 450 m away, within the 800 m


def report(
    run: str, i: int, minute: float, street: str = "", description: str = "", start: dt.datetime = START
) -> ReportFiled:
    return ReportFiled.model_validate(
        {
            "report_id": f"rep-{run}-{i:03d}",
            "filed_at": (start + dt.timedelta(minutes=minute)).isoformat(),
            "channel": "web",
            "category": "waste.missed_collection",
            "waste_fraction": "paper",
            "location": {
                "street": street or NEAR[i % len(NEAR)],
                "house_number": str(1 + i % 7),
                "postcode": "3800",
                "district": "Brustem",
            },
            "description": description or "Papier niet opgehaald, de hele straat staat nog buiten.",
            "reporter": {"name": "Testpersoon Folding", "phone": "+32 470 11 22 33"},
        }
    )


def detected(run: str, *, first: float = 0, at: float = 20, start: dt.datetime = START) -> SpikeDetected:
    return SpikeDetected(
        incident_id=f"inc-{run}",
        incident_key="waste.missed_collection|district:Brustem",
        category="waste.missed_collection",
        waste_fraction="paper",
        district="Brustem",
        street=None,
        window_minutes=60,
        calls_in_window=9,
        reports_in_window=4,
        baseline=0.4,
        p_value=1e-9,
        first_seen_at=start + dt.timedelta(minutes=first),
        last_seen_at=start + dt.timedelta(minutes=at),
        detected_at=start + dt.timedelta(minutes=at),
        affected_streets=["Brustemsesteenweg", "Kerkstraat"],
        draft_nl="Het papier in Brustem werd vandaag niet opgehaald. De afvalintercommunale is verwittigd.",
        draft_en="Paper in Brustem was not collected today.",
    )


def resolved(run: str, at: float) -> SpikeResolved:
    return SpikeResolved(
        incident_id=f"inc-{run}",
        incident_key="waste.missed_collection|district:Brustem",
        category="waste.missed_collection",
        district="Brustem",
        detected_at=START + dt.timedelta(minutes=20),
        resolved_at=START + dt.timedelta(minutes=at),
        total_calls=30,
        total_reports=40,
    )


async def publish(city: CitySystem, *messages: ReportFiled | SpikeDetected | SpikeResolved) -> None:
    for message in messages:
        if isinstance(message, ReportFiled):
            await city.publish_report(message)
            continue
        event_id = f"{message.incident_id}/{message.routing_key}"
        meta = cloudevents.meta_for(message, source="/hub/spikes", event_id=event_id)
        await city.publish_raw(
            message.model_dump_json().encode(), message.routing_key, event_id, headers=cloudevents.amqp_headers(meta)
        )


class Db:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.sessions = create_session_factory(self.engine)

    async def orders(self, report_ids: Sequence[str]) -> list[WorkOrder]:
        async with self.sessions() as session:
            rows = await session.execute(select(WorkOrder).where(WorkOrder.report_id.in_(list(report_ids))))
            return list(rows.scalars())

    async def count(self, model: type, *where: object) -> int:
        async with self.sessions() as session:
            stmt = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
            return int((await session.execute(stmt)).scalar_one())

    async def reports(self, report_ids: Sequence[str]) -> list[Report]:
        async with self.sessions() as session:
            rows = await session.execute(select(Report).where(Report.report_id.in_(list(report_ids))))
            return list(rows.scalars())

    async def routed(self, reports: Sequence[ReportFiled]) -> bool:
        """Every report stored (and so routed: its orders, or its links, are written in the same transaction)."""
        return await self.count(Report, Report.report_id.in_([r.report_id for r in reports])) == len(reports)


def settings(amqp_url: str, database_url: str, tmp_path: Path, receiver: Receiver | None = None) -> Settings:
    extra: dict[str, object] = {}
    if receiver is not None:
        changes = {"waste_company": {"webhook_url": receiver.url("waste_company")}}
        extra["domain"] = HubDomainSettings(
            assignees_file=write_assignees(tmp_path / "assignees.yaml", changes=changes)
        )
        extra["contractors"] = ContractorsSettings(
            webhook_secrets={"waste_company": [generate_secret()]}, delivery_poll_interval_s=0.2
        )
    return Settings(amqp_url=amqp_url, database_url=database_url, metrics=MetricsSettings(port=0), **extra)  # type: ignore[arg-type]


async def started(s: Settings, *consumers: str) -> Hub:
    hub = build_hub(s, consumers=list(consumers))
    await hub.start()
    return hub


async def fold(
    city: CitySystem,
    db: Db,
    run: str,
    before: Sequence[ReportFiled],
    after: Sequence[ReportFiled],
    *,
    chunk: int | None = None,
) -> str:
    """The reports before the alert routed (each its own order), the alert and its incident order, then the reports
    after it routed (folded), `chunk` at a time as citizens file them: the incident order's id."""
    io = incident_order_id(f"inc-{run}", "waste_company")
    await publish(city, *before)
    await until(lambda: db.routed(before), "the reports before the alert routed", timeout=60)
    await publish(city, detected(run))
    await until(lambda: db.count(IncidentOrder, IncidentOrder.work_order_id == io), "the incident order")
    step = chunk or max(len(after), 1)
    for start in range(0, len(after), step):
        await publish(city, *after[start : start + step])
        routed = after[: start + step]
        await until(lambda routed=routed: db.routed(routed), "the reports after the alert routed", timeout=60)
    return io


class StaffAnswers:
    """Status changes staff enter for the waste company, applied by the hub's status service as its consumer does."""

    def __init__(self, hub: Hub) -> None:
        self.service = build_status_service(hub)
        self.batcher = TransactionBatcher("status", hub.sessions)
        self.staff = Sender.staff("test", "waste_company")

    async def change(
        self, work_order_id: str, status: WorkOrderStatus, key: str, *, hours: float, reason: str | None = None
    ) -> None:
        body = WorkOrderStatusChanged(
            work_order_id=work_order_id,
            assignee="waste_company",
            status=status,
            reason=reason,
            changed_at=START + dt.timedelta(hours=hours),
        )
        await self.batcher.submit(key, lambda session: self.service.apply(session, body, key, self.staff))


async def test_a_burst_folds_into_one_order_delivered_once_with_throttled_updates(
    clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    receiver = await Receiver().start()
    db = Db(postgres_url)
    hub = await started(settings(clean_broker, postgres_url, tmp_path, receiver), "router", "deliveries")
    before = [report(run, i, minute=4 * i) for i in range(4)]  # 09:00-09:12, before the alert
    after = [report(run, i, minute=20 + 2 * (i - 4)) for i in range(4, 40)]  # 09:20-10:30, while it is live
    try:
        async with CitySystem(clean_broker) as city:
            io = await fold(city, db, run, before, after, chunk=6)  # as citizens file them: a few at a time
            await publish(city, resolved(run, at=150))

            async def settled() -> bool:
                async with db.sessions() as session:
                    order = await session.get(IncidentOrder, io)
                return order is not None and order.reports == 40 and order.pending == 0

            await until(settled, "the incident order with all 40 reports announced", timeout=60)

            def webhooks() -> list[dict[str, object]]:
                return [json.loads(call.body) for call in receiver.calls("waste_company")]

            await until(lambda: any(w["type"] == "workorder.updated" for w in webhooks()), "an update delivered")
            await asyncio.sleep(1.0)  # nothing more may come
        orders = await db.orders([r.report_id for r in before + after])
    finally:
        await hub.stop()
        await receiver.stop()
        await db.engine.dispose()

    incident = [o for o in orders if o.kind == "incident"]
    own = [o for o in orders if o.kind == "report"]
    assert [o.work_order_id for o in incident] == [io]
    # The reports filed before the alert had their own orders: closed as merged. Those after it got none.
    assert sorted(o.report_id for o in own) == sorted(r.report_id for r in before)
    assert {o.status for o in own} == {"merged"}
    sent = webhooks()
    issued = [w for w in sent if w["type"] == "workorder.issued"]
    updates = [w for w in sent if w["type"] == "workorder.updated"]
    order = next(w["data"] for w in issued if w["data"]["work_order_id"] == io)  # type: ignore[index]
    assert len(issued) == len(before) + 1, "the four orders before the alert, then one incident order"
    # 36 reports over 70 minutes of event time, at most one update per 30 minutes and a last one at the resolution.
    assert 1 <= len(updates) <= 4, [u["data"]["seq"] for u in updates]  # type: ignore[index]
    assert order["incident"]["merged_work_order_ids"] == sorted(o.work_order_id for o in own)
    assert "Testpersoon" not in json.dumps(sent)
    assert "470 11 22 33" not in json.dumps(sent)
    last = max(updates, key=lambda u: u["data"]["seq"])["data"]  # type: ignore[index]
    assert last["incident"]["reports"] == 40
    assert {s["street"]: s["reports"] for s in last["incident"]["streets"]} == {
        "Brustemsesteenweg": 14,
        "Kerkstraat": 13,
        "Vliegveldlaan": 13,
    }
    announced = {rid for u in updates for rid in u["data"]["new_report_ids"]}  # type: ignore[index]
    announced |= set(order["incident"]["report_ids"])
    assert announced == {r.report_id for r in before + after}


async def test_the_timer_sends_the_due_update_when_no_further_report_comes_once_whatever_the_replicas(
    clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    """Live: reports join within the interval (1 minute here), then nothing more comes. The router's timer sends their
    update once the interval has passed on the wall clock (not at the next report, which never comes), once, though
    two replicas tick."""
    run = uuid.uuid4().hex[:8]
    db = Db(postgres_url)
    s = settings(clean_broker, postgres_url, tmp_path)
    router = s.router.model_copy(update={"incident_update_tick_s": 0.3, "incident_update_minutes": 1})
    s = s.model_copy(update={"router": router})
    t0 = dt.datetime.now(BRUSSELS) - dt.timedelta(seconds=30)  # live: event time is the wall clock's
    before = [report(run, i, minute=0.05 * i, start=t0) for i in range(3)]  # merged at the detection
    # The order goes out with the detection (t0 + 15 s); these join 9-11 s after it: the minute has not passed.
    after = [report(run, i, minute=0.4 + 0.01 * (i - 3), start=t0) for i in range(3, 6)]
    io = incident_order_id(f"inc-{run}", "waste_company")
    one = await started(s, "router")
    two = await started(s, "router")
    try:
        async with CitySystem(clean_broker) as city:
            await publish(city, *before)
            await until(lambda: db.routed(before), "routed")
            await publish(city, detected(run, at=0.25, start=t0))
            await until(lambda: db.count(IncidentOrder, IncidentOrder.work_order_id == io), "the incident order")
            await publish(city, *after)
            await until(lambda: db.routed(after), "routed")
            async with db.sessions() as session:
                order = await session.get(IncidentOrder, io)
                assert order is not None
                assert (order.seq, order.pending) == (0, 3), "joined, not announced yet: within the interval"

            async def updated() -> bool:
                async with db.sessions() as session:
                    order = await session.get(IncidentOrder, io)
                return order is not None and order.seq >= 1

            await until(updated, "the timer's update", timeout=120)
            await asyncio.sleep(1.5)  # five more rounds of both timers: nothing more may come
        queued = await drain_queue(clean_broker, workorder_queue_name("waste_company"), settle=1.0)
    finally:
        await one.stop()
        await two.stop()
        await db.engine.dispose()
    updates = [b for b in queued.bodies if b.get("work_order_id") == io and "update_id" in b]
    assert [u["seq"] for u in updates] == [1], "one update, once"
    assert updates[0]["new_report_ids"] == [r.report_id for r in after]
    assert updates[0]["incident"]["reports"] == 6


async def test_a_report_elsewhere_in_the_district_keeps_its_own_order(
    clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    db = Db(postgres_url)
    hub = await started(settings(clean_broker, postgres_url, tmp_path), "router")
    near = [report(run, i, minute=25 + i) for i in range(3)]
    far = report(run, 10, minute=30, street="Ordingenstraat")  # 890 m from the incident's streets
    other = report(run, 11, minute=31, description="Container kapot gereden, graag een nieuwe.")  # a keyword
    glass = report(run, 12, minute=32).model_copy(update={"waste_fraction": "glass"})  # another round
    later = report(run, 13, minute=200)  # after the resolution (event time)
    try:
        async with CitySystem(clean_broker) as city:
            await publish(city, detected(run), resolved(run, at=120))
            await until(lambda: db_has_incident(db, run), "the incident and its end known")
            await publish(city, *near, far, other, glass, later)
            await until(lambda: db.routed([*near, far, other, glass, later]), "routed")
            orders = await db.orders([r.report_id for r in (*near, far, other, glass, later)])
            links = await db.count(IncidentLink, IncidentLink.incident_id == f"inc-{run}")
    finally:
        await hub.stop()
        await db.engine.dispose()
    own = {o.report_id for o in orders if o.kind == "report"}
    assert own == {far.report_id, other.report_id, glass.report_id, later.report_id}
    assert [o.report_id for o in orders if o.kind == "incident"] == [near[0].report_id]
    assert links == 3


async def db_has_incident(db: Db, run: str) -> bool:
    from consumers.router.tables import RouterIncident

    known = RouterIncident.incident_id == f"inc-{run}"
    return await db.count(RouterIncident, known, RouterIncident.resolved_at.is_not(None)) == 1


async def test_done_on_the_incident_order_closes_every_linked_report(
    clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    db = Db(postgres_url)
    s = settings(clean_broker, postgres_url, tmp_path)
    hub = await started(s, "router")
    before = [report(run, i, minute=3 * i) for i in range(3)]
    after = [report(run, i, minute=30 + i) for i in range(3, 8)]
    try:
        async with CitySystem(clean_broker) as city:
            io = await fold(city, db, run, before, after)
        answers = StaffAnswers(hub)
        merged = next(o for o in await db.orders([before[0].report_id]) if o.kind == "report")
        # The contractor answers the order it got before the merge (their answer crossed it): no error, recorded in
        # the order's history, not applied (the order stays merged, the incident order carries the job).
        await answers.change(merged.work_order_id, WorkOrderStatus.DONE, f"{run}-merged", hours=5)
        async with db.sessions() as session:
            noted = list(
                (
                    await session.execute(
                        select(WorkOrderEvent)
                        .where(WorkOrderEvent.work_order_id == merged.work_order_id)
                        .order_by(WorkOrderEvent.id)
                    )
                ).scalars()
            )
        assert [(e.previous_status, e.status) for e in noted] == [("issued", "merged"), ("merged", "merged")]
        assert noted[-1].note is not None
        assert noted[-1].note.startswith("not applied: done reported")
        assert io in noted[-1].note
        assert [o.status for o in await db.orders([before[0].report_id]) if o.kind == "report"] == ["merged"]
        reports = await db.reports([r.report_id for r in before + after])
        assert {r.status for r in reports} == {"routed"}, "one address done is not the incident done"
        # The same through the signed callback: 200, `not_applied` with the reason, not a 409 refusal.
        answer = await callback(s, merged.work_order_id, WorkOrderStatus.IN_PROGRESS)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "not_applied"
        assert io in answer.json()["detail"]
        # Staff acting for the assignee now (no answer crossing anything) are told where the job is followed: one
        # line, exit 1, nothing recorded on the merged order.
        before_staff = await db.count(WorkOrderEvent, WorkOrderEvent.work_order_id == merged.work_order_id)
        env = {"HUB_DATABASE_URL": s.database_url}
        code, said = await hub_cli("workorders", "set-status", merged.work_order_id, "done", "--by", "test", env=env)
        assert code == 1, said
        assert said.strip().splitlines() == [
            f"error: work order {merged.work_order_id} was merged into incident order {io}: nothing recorded; set the "
            "status on the incident order"
        ]
        assert await db.count(WorkOrderEvent, WorkOrderEvent.work_order_id == merged.work_order_id) == before_staff
        await answers.change(io, WorkOrderStatus.DONE, f"{run}-done", hours=5)
        await answers.batcher.stop()
        reports = await db.reports([r.report_id for r in before + after])
    finally:
        await hub.stop()
        await db.engine.dispose()
    assert {r.report_id: r.status for r in reports} == {r.report_id: "closed" for r in before + after}


async def callback(s: Settings, work_order_id: str, status: WorkOrderStatus) -> httpx.Response:
    """A contractor's signed status callback, through `hub serve`'s app on the test's database."""
    secret = generate_secret()
    app = create_http_app(
        s.model_copy(update={"contractors": ContractorsSettings(webhook_secrets={"waste_company": [secret]})})
    )
    body = WorkOrderStatusChanged(
        work_order_id=work_order_id, assignee="waste_company", status=status, changed_at=START + dt.timedelta(hours=4)
    ).model_dump_json()
    msg_id, now = f"cb-{uuid.uuid4().hex}", dt.datetime.now(dt.UTC)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
        "content-type": "application/json",
    }
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub", timeout=60) as client,
    ):
        return await client.post("/contractors/waste_company/workorder-status", content=body, headers=headers)


async def test_two_router_replicas_give_one_incident_order(
    clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    db = Db(postgres_url)
    s = settings(clean_broker, postgres_url, tmp_path)
    one = await started(s, "router")
    two = await started(s, "router")
    reports = [report(run, i, minute=i) for i in range(40)]
    io = incident_order_id(f"inc-{run}", "waste_company")
    try:
        async with CitySystem(clean_broker) as city:
            # The alert arrives in the middle of the burst, as it does: reports before, beside and after it.
            await publish(city, *reports[:15], detected(run, at=15), *reports[15:])
            await until(lambda: db.routed(reports), "routed", timeout=60)

            async def all_linked() -> bool:
                return await db.count(IncidentLink, IncidentLink.incident_id == f"inc-{run}") == 40

            await until(all_linked, "every report linked")
        orders = await db.orders([r.report_id for r in reports])
        queued = await drain_queue(clean_broker, workorder_queue_name("waste_company"), settle=1.0)
    finally:
        await one.stop()
        await two.stop()
        await db.engine.dispose()
    assert [o.work_order_id for o in orders if o.kind == "incident"] == [io]
    assert {o.status for o in orders if o.kind == "report"} <= {"merged"}
    incident_messages = [b for b in queued.bodies if b.get("incident") and b["work_order_id"] == io]
    assert len(incident_messages) == 1


async def test_a_rejected_incident_order_gives_every_folded_report_its_own_triage_order_once(
    clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    db = Db(postgres_url)
    s = settings(clean_broker, postgres_url, tmp_path)
    hub = await started(s, "router")
    before = [report(run, i, minute=3 * i) for i in range(3)]  # merged at the detection
    after = [report(run, i, minute=30 + i) for i in range(3, 8)]  # folded live
    everyone = [r.report_id for r in before + after]
    try:
        async with CitySystem(clean_broker) as city:
            io = await fold(city, db, run, before, after)
        drained = await drain_queue(clean_broker, workorder_queue_name(TRIAGE), settle=0.5)
        assert not [b for b in drained.bodies if b.get("report_id") in everyone]
        answers = StaffAnswers(hub)
        refusal = "Geen ophaling voorzien in deze straten"
        await answers.change(io, WorkOrderStatus.REJECTED, f"{run}-reject", hours=2, reason=refusal)
        # The same rejection under another message id: nothing new.
        await answers.change(io, WorkOrderStatus.REJECTED, f"{run}-reject-again", hours=2, reason=refusal)
        await answers.batcher.stop()
        queued = await drain_queue(clean_broker, workorder_queue_name(TRIAGE), expect=len(everyone), settle=1.0)
        orders = await db.orders(everyone)
    finally:
        await hub.stop()
        await db.engine.dispose()
    triage = [o for o in orders if o.assignee == TRIAGE]
    assert sorted(o.report_id for o in triage) == sorted(everyone), "each folded report its own order, once"
    assert {o.status for o in triage} == {"issued"}
    sent = sorted(b["report_id"] for b in queued.bodies if b.get("report_id") in everyone)
    assert sent == sorted(everyone), "each triage order delivered once"
    assert all("Geweigerd" in b["description"] for b in queued.bodies if b.get("report_id") in everyone)


async def test_reports_folded_in_the_resolutions_transaction_get_its_last_update(
    clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    """A resolution and late reports of its incident in one router transaction (a replay's batch): the reports are
    folded after the resolution was applied, and the last update still names them (they stayed pending before)."""
    run = uuid.uuid4().hex[:8]
    db = Db(postgres_url)
    hub = await started(settings(clean_broker, postgres_url, tmp_path), "router")
    service = build_routing_service(hub)
    # Deliveries submitted together land in one transaction: it waits a second for more.
    batcher = TransactionBatcher("router", hub.sessions, max_wait_s=1.0)
    io = incident_order_id(f"inc-{run}", "waste_company")
    first, late = report(run, 0, minute=30), report(run, 1, minute=35)
    try:
        await batcher.submit(f"{run}-detected", lambda session: service.apply_spike(session, detected(run), "d"))
        await batcher.submit(f"{run}-first", lambda session: service.apply(session, first, f"{run}-first"))
        await asyncio.gather(
            batcher.submit(f"{run}-resolved", lambda session: service.apply_spike(session, resolved(run, 150), "r")),
            batcher.submit(f"{run}-late", lambda session: service.apply(session, late, f"{run}-late")),
        )
        assert batcher.batches == 3, "the resolution and the late report in one transaction"
        async with db.sessions() as session:
            order = await session.get(IncidentOrder, io)
    finally:
        await batcher.stop()
        await hub.stop()
        await db.engine.dispose()
    assert order is not None
    assert (order.reports, order.pending, order.seq) == (2, 0, 1), "the late report announced by the last update"


async def test_a_report_the_resolution_takes_out_is_named_in_the_last_update(
    clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    """A report filed after the incident's end, folded while the resolution was on its way: the resolution gives it
    its own order and the last update names it as taken out (the statistics kept counting it as folded before)."""
    run = uuid.uuid4().hex[:8]
    db = Db(postgres_url)
    hub = await started(settings(clean_broker, postgres_url, tmp_path), "router")
    service = build_routing_service(hub)
    batcher = TransactionBatcher("router", hub.sessions)
    io = incident_order_id(f"inc-{run}", "waste_company")
    first, late = report(run, 0, minute=30), report(run, 1, minute=200)  # the incident ends at minute 150
    try:
        await batcher.submit(f"{run}-detected", lambda session: service.apply_spike(session, detected(run), "d"))
        await batcher.submit(f"{run}-first", lambda session: service.apply(session, first, f"{run}-first"))
        await batcher.submit(f"{run}-late", lambda session: service.apply(session, late, f"{run}-late"))
        await batcher.submit(f"{run}-resolved", lambda session: service.apply_spike(session, resolved(run, 150), "r"))
        async with db.sessions() as session:
            rows = await session.execute(
                select(OutboxMessage.body).where(OutboxMessage.message_id.like(f"{io}/update/%"))
            )
            updates = [json.loads(body) for body in rows.scalars()]
        orders = await db.orders([late.report_id])
    finally:
        await batcher.stop()
        await hub.stop()
        await db.engine.dispose()
    assert [o.kind for o in orders] == ["report"], "its own order"
    assert [u["unfolded_report_ids"] for u in updates][-1:] == [[late.report_id]]
    assert updates[-1]["incident"]["reports"] == 1

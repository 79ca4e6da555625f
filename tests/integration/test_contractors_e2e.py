"""Contractors end to end, in a vhost of the test's own: the hub as real processes (router + status + deliveries, and a
second status replica), reports published as a city system would, a contractor on its own provisioned broker user,
a webhook contractor on a real local HTTP server, an e-mail contractor on a real SMTP server.

What must hold: every channel gets its work orders without the citizen's data; valid status updates change
`work_orders` (with history); impossible ones (done -> accepted, an unknown order, another contractor's order, a
forged or missing sender) end in `hub.status.dlq` with the reason and are not applied; a rejection issues one
triage work order; unacknowledged orders are escalated once each although two replicas look for them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from consumers.contractors.tables import WorkOrderEvent
from consumers.router.tables import Report, WorkOrder
from contracts import ReportFiled
from hub.http import create_http_app
from hub.settings import ContractorsSettings, HubDomainSettings, Settings
from infra.broker_admin import connect_admin
from infra.db import create_engine, create_session_factory
from infra.webhooks import generate_secret
from tests.contractors_support import (
    MANAGEMENT_URL,
    Receiver,
    SmtpSink,
    scratch_vhost,
    with_credentials,
    with_vhost,
    write_assignees,
)
from tests.support import CitySystem, HubProcess, drain_queue

pytestmark = pytest.mark.e2e

SECRET = generate_secret()


def report(run: str, n: int, category: str, description: str) -> ReportFiled:
    return ReportFiled.model_validate(
        {
            "report_id": f"rep-{run}-{n}",
            "filed_at": dt.datetime.now(dt.UTC).isoformat(),
            "channel": "phone",
            "category": category,
            "location": {"street": "Stapelstraat", "house_number": str(n), "postcode": "3800", "district": "Brustem"},
            "description": f"{description}. Bel me op 0470 11 22 {n:02d} of mail burger.{run}.{n}@example.be",
            "reporter": {
                "name": f"Burger Testnaam{n}",
                "phone": f"+32 470 11 22 {n:02d}",
                "email": f"burger.{run}.{n}@example.be",
            },
        }
    )


async def wait_consumers(url: str, queue: str, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    connection = await aio_pika.connect(url)
    async with connection:
        while time.monotonic() < deadline:
            channel = await connection.channel()
            q = await channel.declare_queue(queue, passive=True)
            await channel.close()
            if (q.declaration_result.consumer_count or 0) >= n:
                return
            await asyncio.sleep(0.2)
    raise AssertionError(f"fewer than {n} consumers on {queue}")


async def until(predicate: Any, timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def queue_depth(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, passive=True)
        return int(q.declaration_result.message_count or 0)


def status_body(work_order_id: str, assignee: str, status: str, at: dt.datetime, **extra: Any) -> bytes:
    body = {"work_order_id": work_order_id, "assignee": assignee, "status": status, "changed_at": at.isoformat()}
    return json.dumps(body | extra).encode()


async def test_contractors_end_to_end(amqp_url: str, postgres_url: str, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    receiver = await Receiver().start()
    smtp = await SmtpSink().start()
    async with scratch_vhost(amqp_url, "contractors-e2e") as vhost:
        url = with_vhost(amqp_url, vhost)
        assignees = write_assignees(
            tmp_path / "assignees.yaml",
            changes={
                "waste_company": {"webhook_url": receiver.url("waste_company")},
                "grid_operator": {"channel": "queue"},
                "road_firm": {"ack_hours": 0.0005},  # 1.8 s: its orders are escalated during the test
            },
        )
        prefix = f"t{run}-"
        admin = await connect_admin("http", amqp_url=url, management_url=MANAGEMENT_URL)
        from consumers.contractors.provisioning import access_for, provision

        (grid,) = await provision(admin, vhost, [access_for("grid_operator", prefix)])
        assert grid.password is not None
        grid_user = grid.access.user
        grid_url = with_credentials(url, grid_user, grid.password)
        env = {
            "HUB_AMQP_URL": url,
            "HUB_DATABASE_URL": postgres_url,
            "HUB_ASSIGNEES_FILE": str(assignees),
            "HUB_WEBHOOK_SECRETS": json.dumps({"waste_company": [SECRET]}),
            "HUB_SMTP_HOST": "127.0.0.1",
            "HUB_SMTP_PORT": str(smtp.port),
            "HUB_CONTRACTOR_USER_PREFIX": prefix,
            "HUB_DELIVERY_POLL_INTERVAL_S": "0.2",
            "HUB_ESCALATION_INTERVAL_S": "0.3",
            "HUB_RETRY_DELAY_MS": "500",
            "HUB_LOG_LEVEL": "INFO",
        }
        hub1 = HubProcess("router", "status", "deliveries", env=env, log_path=tmp_path / "hub1.log").start()
        hub2 = HubProcess("status", "--no-relay", env=env, log_path=tmp_path / "hub2.log").start()
        try:
            await hub1.wait_ready(url, "hub.deliveries")
            await hub1.wait_ready(url, "hub.router")
            await wait_consumers(url, "hub.status", 2)
            connection = await aio_pika.connect(url)
            async with connection:
                channel = await connection.channel()
                applied_q = await channel.declare_queue(f"test.applied.{run}", auto_delete=False)
                await applied_q.bind("city.events", "workorder.status.applied")

            lights = [report(run, i, "lighting.defect", "Lamp brandt niet") for i in (1, 2, 3)]
            waste = [report(run, i, "waste.missed_collection", "Restafval niet opgehaald") for i in (4, 5)]
            roads = [report(run, i, "road.damage", "Diep en gevaarlijk gat in de weg") for i in (6, 7)]
            everyone = lights + waste + roads
            async with CitySystem(url) as city:
                for r in everyone:
                    await city.publish_report(r)

            await until(lambda: _ge(queue_depth(url, "workorders.grid_operator"), 3), what="3 orders on the grid queue")
            await until(lambda: _true(len(receiver.calls("waste_company")) >= 2), what="2 webhooks")
            await until(lambda: _true(len(smtp.messages) >= 2), what="2 e-mails")

            # --- the grid operator reads its own queue with its own user -------------------------------------
            grid_orders = (await drain_queue(grid_url, "workorders.grid_operator", expect=3, settle=0.3)).bodies
            by_report = {o["report_id"]: o["work_order_id"] for o in grid_orders}
            o1, o2, o3 = (by_report[r.report_id] for r in lights)
            webhooks = receiver.calls("waste_company")
            waste_orders = {json.loads(c.body)["data"]["report_id"]: json.loads(c.body)["data"] for c in webhooks}
            w1, w2 = (waste_orders[r.report_id]["work_order_id"] for r in waste)
            for call in webhooks:  # signed, verified by the independent implementation
                Webhook(SECRET).verify(call.body, {k: v for k, v in call.headers.items() if k.startswith("webhook-")})

            # --- payload scan: no citizen's name, phone or e-mail in anything a contractor got ----------------
            payloads = [json.dumps(o) for o in grid_orders] + [c.body.decode() for c in webhooks]
            payloads += [raw.decode(errors="replace") for raw in smtp.raw]
            for r in everyone:
                assert r.reporter is not None
                for personal in (r.reporter.name, r.reporter.phone, str(r.reporter.email), "0470 11 22"):
                    assert personal
                    assert all(personal not in p for p in payloads), personal
            assert all("[afgeschermd]" in json.dumps(o["description"]) for o in grid_orders)

            # --- the e-mails: Dutch, the work order reference, how to answer ----------------------------------
            road_ids = set()
            for message in smtp.messages:
                assert message["To"] == "planning@road-firm.example.be"
                assert message["Reply-To"] == "technischedienst@example.be"
                text = message.get_body(("plain",))
                assert text is not None
                plain = text.get_content()
                assert "Beste Wegenbouwbedrijf" in plain
                assert "Hoe antwoorden?" in plain
                road_ids.add(message["X-Work-Order-Id"])
                assert message["X-Work-Order-Id"] in message["Subject"]

            # --- status updates on the broker, as the grid operator -------------------------------------------
            t = dt.datetime.now(dt.UTC)
            gc = await aio_pika.connect(grid_url)
            async with gc:
                ch = await gc.channel(publisher_confirms=True)
                ex = await ch.get_exchange("city.events", ensure=False)

                async def send(body: bytes, message_id: str | None = None, user_id: str | None = grid_user) -> None:
                    await ex.publish(
                        aio_pika.Message(body, message_id=message_id or str(uuid.uuid4()), user_id=user_id,
                                         content_type="application/json"),
                        routing_key="workorder.status", mandatory=True,
                    )  # fmt: skip

                # o1 through its whole life, published at once (two replicas may take them in any order).
                await send(status_body(o1, "grid_operator", "accepted", t))
                await send(
                    status_body(
                        o1, "grid_operator", "planned", t + dt.timedelta(seconds=1), planned_for=str(dt.date.today())
                    )
                )
                await send(status_body(o1, "grid_operator", "in_progress", t + dt.timedelta(seconds=2)))
                await send(status_body(o1, "grid_operator", "done", t + dt.timedelta(seconds=3)))
                # o2 rejected: the same message twice (same id), and again under a new id.
                rejection = status_body(o2, "grid_operator", "rejected", t, reason="Geen paal van ons: privéterrein")
                await send(rejection, message_id=f"rej-{run}")
                await send(rejection, message_id=f"rej-{run}")
                await send(rejection)
                await until(lambda: _status_is(postgres_url, o1, "done"), what="o1 done")
                # The impossible ones.
                await send(
                    status_body(o1, "grid_operator", "accepted", t + dt.timedelta(seconds=10)), f"bad-final-{run}"
                )
                await send(status_body(f"wo-{uuid.uuid4().hex}", "grid_operator", "accepted", t), f"bad-unknown-{run}")
                await send(status_body(w1, "grid_operator", "accepted", t), f"bad-notmine-{run}")
                await send(status_body(w1, "waste_company", "accepted", t), f"bad-forged-{run}")
                await send(status_body(o3, "grid_operator", "accepted", t), f"bad-nouser-{run}", user_id=None)
                await send(status_body(o3, "grid_operator", "planned", t), f"bad-nodate-{run}")

            # --- the HTTP callback, signed by the waste company (standardwebhooks signs it here) --------------
            settings = Settings(amqp_url=url, database_url=postgres_url, domain=HubDomainSettings(assignees_file=assignees), contractors=ContractorsSettings(webhook_secrets={"waste_company": [SECRET]}, contractor_user_prefix=prefix))  # fmt: skip
            app = create_http_app(settings)
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as client,
            ):

                async def callback(body: bytes, msg_id: str, *, secret: str = SECRET) -> httpx.Response:
                    now = dt.datetime.now(dt.UTC)
                    headers = {
                        "webhook-id": msg_id,
                        "webhook-timestamp": str(int(now.timestamp())),
                        "webhook-signature": Webhook(secret).sign(msg_id, now, body.decode()),
                    }
                    return await client.post(
                        "/contractors/waste_company/workorder-status", content=body, headers=headers
                    )

                accepted = status_body(w1, "waste_company", "accepted", t)
                first = await callback(accepted, f"cb-{run}")
                assert first.status_code == 200, first.text
                assert first.json()["status"] == "applied"
                again = await callback(accepted, f"cb-{run}")
                assert again.json()["status"] == "duplicate"
                assert (await callback(accepted, f"cb2-{run}", secret=generate_secret())).status_code == 401
                unsigned = await client.post("/contractors/waste_company/workorder-status", content=accepted)
                assert unsigned.status_code == 401
                theirs = await callback(status_body(o3, "grid_operator", "accepted", t), f"bad-http-{run}")
                assert theirs.status_code == 409
                assert "signed for 'waste_company'" in theirs.json()["error"]
                late = await callback(status_body(w1, "waste_company", "issued", t), f"bad-http2-{run}")
                assert late.status_code == 409

            # --- escalations: the road firm never acknowledges; two replicas, one escalation each --------------
            await until(lambda: _ge(queue_depth(url, "workorders.technische_dienst"), 2), what="2 escalations")
            await asyncio.sleep(1.5)  # several more scans by both replicas
            dead = await drain_queue(url, "hub.status.dlq", expect=8, timeout=30, settle=0.5)
            escalations = await drain_queue(url, "workorders.technische_dienst", settle=0.3)
            triage = await drain_queue(url, "workorders.contact_center_triage", settle=0.3)
            applied = await drain_queue(url, f"test.applied.{run}", settle=0.3)
        finally:
            assert hub1.stop() == 0, hub1.log_tail()
            assert hub2.stop() == 0, hub2.log_tail()
            await admin.delete_user(grid_user)
            await admin.aclose()
            await receiver.stop()
            await smtp.stop()

    # Impossible changes: in the DLQ with their reason, never applied.
    reasons = {mid: _text(h["x-hub-error"]) for mid, h in zip(dead.message_ids, dead.headers, strict=True)}
    expected = {
        f"bad-final-{run}": "'done' is final",
        f"bad-unknown-{run}": "unknown work order",
        f"bad-notmine-{run}": "unknown work order",
        f"bad-forged-{run}": "sends for 'grid_operator' only",
        f"bad-nouser-{run}": "must carry the AMQP user_id",
        f"bad-nodate-{run}": "needs planned_for",
        f"bad-http-{run}": "signed for 'waste_company'",
        f"bad-http2-{run}": "set by the hub",
    }
    assert set(reasons) == set(expected), reasons
    for mid, fragment in expected.items():
        assert fragment in reasons[mid], (mid, reasons[mid])

    statuses = await _statuses(postgres_url)
    assert statuses[o1] == "done"
    assert statuses[o2] == "rejected"
    assert statuses[o3] == "issued"
    assert statuses[w1] == "accepted"
    assert statuses[w2] == "issued"
    history = await _history(postgres_url, o1)
    assert history[-1] == "done"
    assert "accepted" not in history[1:], history  # never went back

    # One triage work order for the rejected report, with the reason, and the citizen's data (triage may see it).
    assert [b["report_id"] for b in triage.bodies] == [lights[1].report_id]
    (retriaged,) = triage.bodies
    assert retriaged["rule_id"] == "rejected-by-grid_operator"
    assert "privéterrein" in retriaged["description"]
    assert retriaged["reporter"]["name"] == "Burger Testnaam2"
    assert await _count_orders(postgres_url, lights[1].report_id) == 2

    # Escalated once each, to the department responsible for the road firm's contract.
    esc = [
        b
        for b, h in zip(escalations.bodies, escalations.headers, strict=True)
        if "escalated" in _text(h.get("cloudEvents:type", ""))
    ]
    assert sorted(b["work_order_id"] for b in esc) == sorted(road_ids)
    assert all(b["escalated_to"] == "technische_dienst" for b in esc)

    # Applied changes are published for statistics and spikes; completion closes the report.
    done_events = [b for b in applied.bodies if b["status"] == "done"]
    assert [b["work_order_id"] for b in done_events] == [o1]
    assert done_events[0]["report_closed"] is True
    assert done_events[0]["district"] == "Brustem"
    assert sorted(
        b["work_order_id"] for b in applied.bodies if b["status"] != "done" and b["work_order_id"] != o1
    ) == sorted([o2, w1])
    assert await _report_status(postgres_url, lights[0].report_id) == "closed"

    # Nothing personal in what the hub logged.
    log = (tmp_path / "hub1.log").read_text() + (tmp_path / "hub2.log").read_text()
    for r in everyone:
        assert r.reporter is not None
        assert str(r.reporter.email) not in log
        assert str(r.reporter.name) not in log


async def _ge(depth: Any, n: int) -> bool:
    return int(await depth) >= n


async def _true(value: bool) -> bool:
    return value


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _query(database_url: str, stmt: Any) -> list[Any]:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            return list((await session.execute(stmt)).all())
    finally:
        await engine.dispose()


async def _statuses(database_url: str) -> dict[str, str]:
    return {r[0]: r[1] for r in await _query(database_url, select(WorkOrder.work_order_id, WorkOrder.status))}


async def _status_is(database_url: str, work_order_id: str, status: str) -> bool:
    return (await _statuses(database_url)).get(work_order_id) == status


async def _history(database_url: str, work_order_id: str) -> list[str]:
    rows = await _query(
        database_url,
        select(WorkOrderEvent.status).where(WorkOrderEvent.work_order_id == work_order_id).order_by(WorkOrderEvent.id),
    )
    return [r[0] for r in rows]


async def _count_orders(database_url: str, report_id: str) -> int:
    rows = await _query(
        database_url, select(func.count()).select_from(WorkOrder).where(WorkOrder.report_id == report_id)
    )
    return int(rows[0][0])


async def _report_status(database_url: str, report_id: str) -> str:
    rows = await _query(database_url, select(Report.status).where(Report.report_id == report_id))
    return str(rows[0][0])

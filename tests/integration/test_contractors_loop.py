"""The contractors' loop on the real services: figures in event time, staff acting for a contractor.

A report filed in 2021 and routed today counts in 2021 (its filing), not in the year the hub routed it; a done
status change before the due date counts compliant, after it late (the change's own time, not when applied).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aio_pika
import httpx
from sqlalchemy import select

from consumers.contractors.links import LinkSigner
from consumers.contractors.links_http import link_signer
from consumers.contractors.onbehalf import history
from consumers.router.tables import WorkOrder
from contracts import WorkOrderStatus
from hub.http import create_http_app
from hub.settings import ContractorsSettings, Settings
from infra.db import create_engine, create_session_factory
from tests.contractors_support import SmtpSink
from tests.support import BRUSSELS, ROOT, CitySystem, HubProcess, make_report


def hub_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True
    )


def stats_rows(env: dict[str, str], year: int) -> dict[str, dict[str, object]]:
    out = hub_cli(env, "stats", "--year", str(year), "--by", "assignee", "--format", "json")
    assert out.returncode == 0, out.stderr
    return {str(r["assignee"]): r for r in json.loads(out.stdout)["rows"]}


async def orders_of(database_url: str, report_ids: list[str], timeout: float = 60) -> list[WorkOrder]:
    engine = create_engine(database_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with create_session_factory(engine)() as session:
                found = list(
                    (await session.execute(select(WorkOrder).where(WorkOrder.report_id.in_(report_ids)))).scalars()
                )
            if len({o.report_id for o in found}) == len(report_ids):
                return sorted(found, key=lambda o: report_ids.index(o.report_id))
            await asyncio.sleep(0.25)
        raise AssertionError(f"work orders of {report_ids} not routed within {timeout} s")
    finally:
        await engine.dispose()


async def until(check: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"not within {timeout} s: {what}")


async def send_status(amqp_url: str, user: str, body: dict[str, object]) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("city.events", ensure=False)
        await exchange.publish(
            aio_pika.Message(json.dumps(body).encode(), message_id=str(uuid.uuid4()), user_id=user,
                             content_type="application/json"),
            routing_key="workorder.status", mandatory=True,
        )  # fmt: skip


async def test_a_replayed_2021_counts_in_2021_with_its_own_sla_figures(
    clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    env = {
        "HUB_AMQP_URL": clean_broker,
        "HUB_DATABASE_URL": postgres_url,
        "HUB_RETRY_DELAY_MS": "500",
        "HUB_LOG_LEVEL": "WARNING",
    }
    run = uuid.uuid4().hex[:8]
    rng = random.Random(16)
    filed = dt.datetime(2021, 3, 15, 10, 0, tzinfo=BRUSSELS)  # a Monday
    reports = [
        make_report(rng, i, category="road.damage", run=run).model_copy(
            update={"filed_at": filed, "description": "Diep en gevaarlijk gat in de weg"}
        )
        for i in (1, 2, 3)
    ]
    hub = HubProcess("router", "status", "stats", env=env, log_path=tmp_path / "hub.log").start()
    try:
        await hub.wait_ready(clean_broker, "hub.stats")
        async with CitySystem(clean_broker) as city:
            for report in reports:
                await city.publish_report(report)
        on_time, late, untouched = await orders_of(postgres_url, [r.report_id for r in reports])
        assignee = on_time.assignee
        assert {o.assignee for o in (on_time, late, untouched)} == {"road_firm"}
        due = on_time.due_date
        assert due.year == 2021
        # The change's own time decides: done on its due date is on time, three days after it late.
        user = clean_broker.split("//")[1].split(":")[0]
        done_in_time = dt.datetime.combine(due, dt.time(15, 0), tzinfo=BRUSSELS)
        for order, at in ((on_time, done_in_time), (late, done_in_time + dt.timedelta(days=3))):
            await send_status(
                clean_broker,
                user,
                {"work_order_id": order.work_order_id, "assignee": assignee, "status": "done",
                 "changed_at": at.isoformat()},
            )  # fmt: skip

        def figures() -> dict[str, object] | None:
            row = stats_rows(env, 2021).get(assignee)
            return row if row is not None and row["done"] == 2 else None

        await until(lambda: figures() is not None, "two done orders counted in 2021")
        row = figures()
        assert row is not None
        assert (row["issued"], row["done"], row["done_on_time"], row["overdue"]) == (3, 2, 1, 1), row
        # Compliant: done by the due date, of the decided ones (two done, one open past its due date).
        assert row["sla_pct"] == 33.3, row
        # Completion measured from the filing to the done change, never negative (routed today, done in 2021).
        assert 0 < float(row["median_completion_h"]) < 24 * 30, row  # type: ignore[arg-type]
        assert assignee not in stats_rows(env, dt.date.today().year)
        assert untouched.status == "issued"

        # --- staff act for the contractor: the same validated path, in the history with its author ----------
        wid = untouched.work_order_id
        accepted = hub_cli(env, "workorders", "set-status", wid, "accepted", "--by", "Jan Balie")
        assert accepted.returncode == 0, accepted.stderr
        assert f"recorded as staff:Jan Balie on behalf of {assignee}" in accepted.stdout
        done_at = (done_in_time - dt.timedelta(hours=2)).replace(tzinfo=None).isoformat()
        done = hub_cli(env, "workorders", "set-status", wid, "done", "--at", done_at, "--note", "telefonisch gemeld")
        assert done.returncode == 0, done.stderr
        illegal = hub_cli(env, "workorders", "set-status", wid, "accepted", "--by", "Jan Balie")
        assert illegal.returncode == 1
        refusal = f"error: work order {wid}: impossible change done -> accepted: 'done' is final"
        assert illegal.stderr.splitlines() == [refusal]
        again = hub_cli(env, "workorders", "set-status", wid, "done")
        assert (again.returncode, again.stdout.strip()) == (0, f"work order {wid}: already done, nothing changed")
        shown = hub_cli(env, "workorders", "show", wid).stdout
        assert f"issued -> accepted  by staff:Jan Balie on behalf of {assignee}" in shown, shown
        assert "accepted -> done  by staff:" in shown, shown
        assert "note telefonisch gemeld" in shown, shown
        listed = hub_cli(env, "workorders", "list", "--assignee", assignee, "--overdue").stdout
        assert listed.strip() == "no work orders", listed  # all three are done
        # The staff's done, published by the hub's relay, counts in 2021 and on time.
        await until(lambda: stats_rows(env, 2021)[assignee]["done"] == 3, "the staff's done counted")
        assert stats_rows(env, 2021)[assignee]["done_on_time"] == 2
    finally:
        hub.stop()


async def test_an_email_contractor_answers_with_one_click(clean_broker: str, postgres_url: str, tmp_path: Path) -> None:
    """The e-mail's "done" link: opening it changes nothing, confirming it changes the order once, a second click
    says it is done already; an altered or expired link is refused, and one signed with the previous secret works."""
    secrets = {"road_firm": ["link-secret-new", "link-secret-old"]}
    smtp = await SmtpSink().start()
    env = {
        "HUB_AMQP_URL": clean_broker,
        "HUB_DATABASE_URL": postgres_url,
        "HUB_SMTP_HOST": "127.0.0.1",
        "HUB_SMTP_PORT": str(smtp.port),
        "HUB_CONTRACTOR_LINK_SECRETS": json.dumps(secrets),
        "HUB_PUBLIC_URL": "http://hub",
        "HUB_DELIVERY_POLL_INTERVAL_S": "0.2",
        "HUB_LOG_LEVEL": "WARNING",
    }
    run = uuid.uuid4().hex[:8]
    reports = [
        make_report(random.Random(i), i, category="road.damage", run=run).model_copy(
            update={"description": "Diep en gevaarlijk gat in de weg"}
        )
        for i in (1, 2)
    ]
    hub = HubProcess("router", "deliveries", env=env, log_path=tmp_path / "hub.log").start()
    try:
        await hub.wait_ready(clean_broker, "hub.deliveries")
        async with CitySystem(clean_broker) as city:
            for report in reports:
                await city.publish_report(report)
        first, second = await orders_of(postgres_url, [r.report_id for r in reports])
        await until(lambda: len(smtp.messages) >= 2, "two e-mails")
    finally:
        hub.stop()
        await smtp.stop()
    mails = {m["X-Work-Order-Id"]: m.get_body(("plain",)).get_content() for m in smtp.messages}  # type: ignore[union-attr]
    links = dict(re.findall(r"^(\w[^:\n]*): (http://hub/contractors/links/[\w.-]+)", mails[first.work_order_id], re.M))
    assert list(links) == ["Aanvaarden", "Inplannen (met datum)", "Werken bezig", "Klaar", "Weigeren (met reden)"]
    done = links["Klaar"].removeprefix("http://hub")
    settings = Settings(amqp_url=clean_broker, database_url=postgres_url,
                        contractors=ContractorsSettings(contractor_link_secrets=secrets))  # fmt: skip
    app = create_http_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as client,
    ):
        page = await client.get(done)  # what a mail scanner does: nothing changes
        assert page.status_code == 200, page.text
        assert '<form method="post">' in page.text
        assert (await orders_of(postgres_url, [first.report_id]))[0].status == "issued"
        confirmed = await client.post(done, data={})
        assert confirmed.status_code == 200, confirmed.text
        assert "is nu afgerond" in confirmed.text
        again = await client.post(done, data={})
        assert again.status_code == 409
        assert "is al afgerond" in again.text
        accept = await client.get(links["Aanvaarden"].removeprefix("http://hub"))
        assert accept.status_code == 409
        assert "kan niet meer" in accept.text
        # Altered: another order's id, or another step, under the same signature.
        altered = done.replace(first.work_order_id, second.work_order_id)
        assert (await client.post(altered, data={})).status_code == 403
        assert (await client.get(done.replace(".done.", ".rejected."))).status_code == 403
        # Expired: signed 31 days ago (the links last 30); a link of the previous secret still works.
        old = link_signer(settings.contractors)
        expired = old.token(
            second.work_order_id, "road_firm", WorkOrderStatus.DONE, dt.datetime.now(dt.UTC) - dt.timedelta(days=31)
        )
        refused = await client.post(f"/contractors/links/{expired}", data={})
        assert refused.status_code == 403
        assert "verlopen" in refused.text
        rotated = LinkSigner({"road_firm": ["link-secret-old"]}, "http://hub")
        token = rotated.token(second.work_order_id, "road_firm", WorkOrderStatus.PLANNED, dt.datetime.now(dt.UTC))
        no_date = await client.post(f"/contractors/links/{token}", data={})
        assert no_date.status_code == 422
        planned = await client.post(f"/contractors/links/{token}", data={"planned_for": "2026-12-10"})
        assert planned.status_code == 200, planned.text
    first_now, second_now = await orders_of(postgres_url, [first.report_id, second.report_id])
    assert (first_now.status, second_now.status) == ("done", "planned")
    engine = create_engine(postgres_url)
    async with create_session_factory(engine)() as session:
        events = await history(session, first.work_order_id)
    await engine.dispose()
    assert [(e.status, e.sender) for e in events] == [("done", "email-link:road_firm")]

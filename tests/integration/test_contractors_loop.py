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
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aio_pika
from sqlalchemy import select

from consumers.router.tables import WorkOrder
from infra.db import create_engine, create_session_factory
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

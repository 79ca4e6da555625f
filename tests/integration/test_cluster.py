"""The hub on a three-node RabbitMQ cluster: the node that leads `hub.router` dies while 2,000 reports flow, then
one of the two hub replicas is SIGKILLed. Every report is routed once, counted once, no alert is scheduled
twice and nothing stays in the outbox.

The cluster is this repository's `scripts/rabbitmq-cluster.sh` (three nodes on this machine, ports 5701-5703,
beside the machine's own broker); `HUB_AMQP_URL` lists all three nodes, so each hub connection opens on a live
node and moves to the next when its node goes (`infra.amqp.FailoverConnection`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import shutil
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import httpx
import pytest
from sqlalchemy import func, select

from consumers.notifier.tables import AlertNotification
from consumers.router.tables import REPORT_KIND, IncidentLink, Report, WorkOrder
from consumers.spikes.tables import Alert
from consumers.stats.tables import StatReport, StatWorkOrder
from contracts import ReportFiled
from infra.db import create_engine, create_session_factory
from infra.db.tables import OutboxMessage
from tests.integration.test_router_exactly_once import DOMAIN, expected_orders
from tests.support import BRUSSELS, ROOT, CitySystem, HubProcess, drain_queue, make_report

pytestmark = [pytest.mark.e2e, pytest.mark.serial]

SCRIPT = ROOT / "scripts" / "rabbitmq-cluster.sh"
NODES = (1, 2, 3)
AMQP_BASE, MGMT_BASE = 5700, 15700
REPORTS = 2000


def node_url(n: int) -> str:
    return f"amqp://guest:guest@127.0.0.1:{AMQP_BASE + n}/"


def cluster(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", str(SCRIPT), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, f"rabbitmq-cluster.sh {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout.strip()


@pytest.fixture(scope="module")
def cluster_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A fresh three-node cluster for this module (about 30 s to start); a machine without RabbitMQ fails."""
    if shutil.which("rabbitmq-server") is None and not Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists():
        pytest.fail(
            "the cluster test needs RabbitMQ's server installed (apt-get install rabbitmq-server)", pytrace=False
        )
    env = {"HUB_CLUSTER_DIR": str(tmp_path_factory.mktemp("rabbit-cluster"))}
    cluster("stop", env=env)  # a cluster left over by a killed run on the same ports
    cluster("start", env=env)
    try:
        yield env
    finally:
        cluster("stop", env=env)


async def queue_leader(queue: str) -> int:
    """The node number leading a quorum queue, from the management API of any live node."""
    for n in NODES:
        try:
            async with httpx.AsyncClient(auth=("guest", "guest"), timeout=5) as client:
                answer = await client.get(f"http://127.0.0.1:{MGMT_BASE + n}/api/queues/%2F/{queue}")
        except httpx.HTTPError:
            continue
        if answer.status_code == 200:
            info = answer.json()
            leader = str(info.get("leader") or info["node"])
            assert info.get("type") == "quorum", info.get("type")
            assert len(info.get("members", [])) == 3, info.get("members")  # a member on every node
            return int(leader.split("@")[0].removeprefix("hubc"))
    raise AssertionError(f"no node knows {queue}")


async def consumers_of(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, passive=True)
        return int(q.declaration_result.consumer_count or 0)


async def wait_until(what: str, check, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last is True:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what} within {timeout}s: {last}")


async def scalar(database_url: str, statement) -> int:  # type: ignore[no-untyped-def]
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            return int((await session.execute(statement)).scalar_one())
    finally:
        await engine.dispose()


async def orders_of(database_url: str) -> dict[str, tuple[str, str]]:
    """Every work order the router issued, by id: its kind ('report' or 'incident') and assignee."""
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            rows = await session.execute(select(WorkOrder.work_order_id, WorkOrder.kind, WorkOrder.assignee))
            return {work_order_id: (kind, assignee) for work_order_id, kind, assignee in rows}
    finally:
        await engine.dispose()


def burst(run: str, start: dt.datetime) -> list[ReportFiled]:
    """An incident: 30 missed collections in one street of one district within a quarter of an hour (make_report
    alone spreads reports over five districts)."""
    rng = random.Random(30)
    reports = [make_report(rng, 10_000 + i, category="waste.missed_collection", run=run) for i in range(30)]
    return [
        r.model_copy(
            update={
                "filed_at": start + dt.timedelta(seconds=30 * i),
                "location": r.location.model_copy(update={"district": "Brustem", "postcode": "3800"}),
            }
        )
        for i, r in enumerate(reports)
    ]


async def test_leader_node_and_a_replica_die_while_reports_flow(
    cluster_env: dict[str, str], postgres_url: str, tmp_path: Path
) -> None:
    everything = ",".join(node_url(n) for n in NODES)
    env = {
        "HUB_AMQP_URL": everything,
        "HUB_DATABASE_URL": postgres_url,
        "HUB_RETRY_DELAY_MS": "500",
        "HUB_RELAY_SWEEP_AFTER_S": "2",
        "HUB_METRICS_PORT": "0",
        "HUB_LOG_LEVEL": "WARNING",
        # A chat endpoint that refuses: each alert's notification is scheduled (and retried), never sent.
        "HUB_COMMS_WEBHOOK_URL": "http://127.0.0.1:9/",
    }
    rng = random.Random(2000)
    run = uuid.uuid4().hex[:8]
    reports = [make_report(rng, i, run=run) for i in range(REPORTS - 30)]
    # Live in event time: after every other report's time (make_report: 2 to 14 November), so the detector judges
    # it as it comes; a burst older than the detector's clock is history, not an alert.
    reports[1000:1000] = burst(run, dt.datetime(2026, 11, 14, 10, 0, tzinfo=BRUSSELS))
    expected = expected_orders(reports)

    replicas = [HubProcess("all", env=env, log_path=tmp_path / f"hub-{i}.log").start() for i in (0, 1)]
    try:
        await replicas[0].wait_ready(node_url(1))

        async def both_consume() -> bool | int:
            n = await consumers_of(node_url(1), "hub.router")
            return n == 2 or n

        await wait_until("both replicas consume hub.router", both_consume, 90)
        leader = await queue_leader("hub.router")
        survivor = next(n for n in NODES if n != leader)

        async with CitySystem(node_url(survivor)) as city:
            for i in range(0, REPORTS, 100):
                await asyncio.gather(*(city.publish_report(r) for r in reports[i : i + 100]))
                if i == 600:
                    await asyncio.to_thread(cluster, "stop-node", str(leader), env=cluster_env)
                if i == 1200:
                    replicas[0].kill()
                await asyncio.sleep(0.1)
        new_leader = await queue_leader("hub.router")
        assert new_leader != leader

        # The burst's alert folds its reports into one incident order per assignee (consumers/router/folding.py):
        # an order of its own, issued when the alert reaches the router, counted and delivered like any order.
        # A burst report routed before the alert keeps its order (merged); one routed after has none ('live').
        async def all_routed() -> bool | tuple[int, int, int]:
            orders = await orders_of(postgres_url)
            reports_in = await scalar(postgres_url, select(func.count()).select_from(Report))
            live = await scalar(
                postgres_url, select(func.count()).select_from(IncidentLink).where(IncidentLink.how == "live")
            )
            own = sum(1 for kind, _ in orders.values() if kind == REPORT_KIND)
            incident = len(orders) - own
            done = (reports_in, own + live) == (REPORTS, len(expected)) and incident >= 1
            return done or (reports_in, own, incident)

        async def all_counted() -> bool | tuple[int, int]:
            got = (
                await scalar(postgres_url, select(func.count()).select_from(StatReport)),
                await scalar(postgres_url, select(func.count()).select_from(StatWorkOrder)),
            )
            return got == (REPORTS, len(await orders_of(postgres_url))) or got

        async def outbox_empty() -> bool | int:
            left = await scalar(
                postgres_url,
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None)),
            )
            return left == 0 or left

        await wait_until("every report routed once", all_routed, 180)
        await wait_until("every report and work order counted once", all_counted, 120)
        # A row whose publish was lost with its relay's node is tried again after the first back-off, however
        # often that happened during the failover (infra.relay): the outbox empties soon after the cluster heals.
        await wait_until("nothing left in the outbox", outbox_empty, 60)

        orders = await orders_of(postgres_url)
        assert {i for i, (kind, _) in orders.items() if kind == REPORT_KIND} <= set(expected)
        delivered: list[str] = []
        wanted = Counter(assignee for _, assignee in orders.values())
        for assignee in DOMAIN.catalogue.assignees:
            drained = await drain_queue(
                node_url(survivor), f"workorders.{assignee}", expect=wanted.get(assignee, 0), timeout=60, settle=0.5
            )
            delivered += [str(body["work_order_id"]) for body in drained.bodies]
        assert replicas[1].alive(), replicas[1].log_tail()
    finally:
        for replica in replicas:
            if replica.alive():
                replica.stop()
    # Every work order reached its assignee's queue; a copy can only be the relay's re-publish of a row whose
    # confirm was lost with the node or the killed replica, under the same message id.
    assert set(delivered) == set(orders)
    alerts = await scalar(postgres_url, select(func.count()).select_from(Alert))
    assert alerts >= 1, "the burst raised no alert"
    engine = create_engine(postgres_url)
    try:
        async with create_session_factory(engine)() as session:
            rows = (
                await session.execute(
                    select(AlertNotification.alert_id, AlertNotification.channel, func.count()).group_by(
                        AlertNotification.alert_id, AlertNotification.channel
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert rows, "no alert notification was scheduled"
    assert all(n == 1 for _, _, n in rows), rows  # no alert scheduled to the team twice

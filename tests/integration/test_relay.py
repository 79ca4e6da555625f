"""The outbox relay on the real broker and databases: hand-off after commit, the sweep, unroutable messages."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq
import pytest
from aio_pika.abc import AbstractQueue, AbstractRobustConnection
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from infra.clock import aware
from infra.db import create_engine, create_session_factory, upgrade_schema
from infra.db.dialect import insert_ignore
from infra.db.tables import OutboxMessage
from infra.outbox import Outgoing, outbox_values
from infra.relay import OutboxRelay, parked_count
from tests.support import until

pytestmark = pytest.mark.integration


@dataclass
class Rig:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    connection: AbstractRobustConnection
    queue: AbstractQueue

    def message(self, n: int, *, routable: bool = True) -> Outgoing:
        return Outgoing(
            message_id=f"relay-test-{uuid.uuid4().hex[:8]}-{n}",
            exchange="",  # the default exchange: routed by queue name, returned when no such queue exists
            routing_key=self.queue.name if routable else f"no-such-queue-{uuid.uuid4().hex}",
            body=b'{"n": %d}' % n,
        )

    async def commit(self, messages: list[Outgoing], at: dt.datetime, *, handed_off: bool = True) -> None:
        """What a writer does: the rows in its transaction (the hand-off, if any, is the caller's)."""
        async with self.sessions() as session, session.begin():
            await session.execute(
                insert_ignore(session, OutboxMessage), outbox_values(messages, at, handed_off=handed_off)
            )

    async def rows(self) -> dict[str, OutboxMessage]:
        async with self.sessions() as session:
            return {row.message_id: row for row in (await session.execute(select(OutboxMessage))).scalars()}

    async def received(self, *, settle: float = 0.3) -> list[str]:
        """Message ids on the queue, consumed; stops once nothing came for `settle` seconds."""
        ids: list[str] = []
        while True:
            message = await self.queue.get(no_ack=True, fail=False, timeout=5)
            if message is None:
                await asyncio.sleep(settle)
                message = await self.queue.get(no_ack=True, fail=False, timeout=5)
                if message is None:
                    return ids
            assert message.message_id is not None
            ids.append(message.message_id)


@pytest.fixture
async def rig(database_url: str, clean_broker: str) -> AsyncIterator[Rig]:
    engine = create_engine(database_url)
    await upgrade_schema(engine)
    connection = await aio_pika.connect_robust(clean_broker)
    channel = await connection.channel()
    queue = await channel.declare_queue(f"relay-test-{uuid.uuid4().hex[:8]}", durable=True)
    try:
        yield Rig(engine, create_session_factory(engine), connection, queue)
    finally:
        await queue.delete(if_unused=False, if_empty=False)
        await connection.close()
        await engine.dispose()


async def test_handed_off_rows_are_published_at_once_and_marked(rig: Rig, clean_broker: str) -> None:
    relay = OutboxRelay(rig.sessions, clean_broker, sweep_after_s=60, poll_interval_s=0.1)
    confirmed: list[str] = []
    relay.on_published = lambda messages: confirmed.extend(m.message_id for m in messages)
    await relay.start()
    try:
        messages = [rig.message(n) for n in range(300)]
        now = dt.datetime.now(dt.UTC)
        await rig.commit(messages, now)
        relay.handoff(messages, now)

        async def all_marked() -> bool:
            return all(row.published_at is not None for row in (await rig.rows()).values())

        # The sweep would not touch these rows for a minute: only the hand-off can have published them.
        await until(all_marked, "every handed-off row marked published", timeout=10)
    finally:
        await relay.stop()
    received = await rig.received()
    assert sorted(received) == sorted(m.message_id for m in messages)  # each once
    assert sorted(confirmed) == sorted(received)
    assert relay.published == 300
    assert relay.failed == 0


# Two relays on one database: PostgreSQL (the sweep's row locks); SQLite is one embedded process, one relay.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_hand_off_far_behind_is_left_to_the_sweep_and_goes_out_once(rig: Rig, clean_broker: str) -> None:
    # The owner's hand-off falls behind (one message in flight at a time, slow publishes) while another replica's
    # relay sweeps: each row must reach the broker once, by whichever relay took it.
    owner = OutboxRelay(rig.sessions, clean_broker, sweep_after_s=1.0, poll_interval_s=0.1, max_in_flight=1)
    other = OutboxRelay(rig.sessions, clean_broker, sweep_after_s=1.0, poll_interval_s=0.1)
    original = owner._publish

    async def slow_publish(message: Any, created_at: dt.datetime, **lane: bool) -> None:
        await asyncio.sleep(0.05)
        await original(message, created_at, **lane)

    owner._publish = slow_publish  # type: ignore[method-assign]
    await owner.start()
    await other.start()
    try:
        messages = [rig.message(n) for n in range(60)]
        now = dt.datetime.now(dt.UTC)
        await rig.commit(messages, now)
        owner.handoff(messages, now)  # 60 x 50 ms: the last ones would wait 3 s, past the 1 s sweep

        async def all_marked() -> bool:
            return all(row.published_at is not None for row in (await rig.rows()).values())

        await until(all_marked, "every row published", timeout=20)
    finally:
        await owner.stop()
        await other.stop()
    received = await rig.received()
    # Each once (with the relay that published every hand-off it held, the other's sweep made copies). Which
    # relay's sweep took the rows given up is a race: the owner's own sweep may, as they are no longer its own.
    assert sorted(received) == sorted(m.message_id for m in messages)
    assert owner.published + other.published == 60


async def test_an_urgent_message_overtakes_a_backlog_handed_off_before_it(rig: Rig, clean_broker: str) -> None:
    # An alert committed behind a process's backlog of work orders: on a lane of its own it goes out at once (in
    # a year's replay it waited 0.7-12 s behind them, and the router folded the incident's next reports too late).
    channel = await rig.connection.channel()
    alerts = await channel.declare_queue(f"spike.relay-test-{uuid.uuid4().hex[:8]}", durable=True)
    relay = OutboxRelay(
        rig.sessions, clean_broker, sweep_after_s=60, poll_interval_s=0.1, max_in_flight=1, urgent_prefixes=["spike."]
    )
    original = relay._publish

    async def slow_publish(message: Any, created_at: dt.datetime, **lane: bool) -> None:
        await asyncio.sleep(0.02)  # 100 work orders: 2 s on the one channel
        await original(message, created_at, **lane)

    relay._publish = slow_publish  # type: ignore[method-assign]
    confirmed: list[str] = []
    relay.on_published = lambda messages: confirmed.extend(m.message_id for m in messages)
    await relay.start()
    try:
        backlog = [rig.message(n) for n in range(100)]
        alert = Outgoing(f"relay-test-alert-{uuid.uuid4().hex[:8]}", exchange="", routing_key=alerts.name, body=b"{}")
        now = dt.datetime.now(dt.UTC)
        await rig.commit([*backlog, alert], now)
        relay.handoff(backlog, now)
        relay.handoff([alert], now)

        async def all_marked() -> bool:
            return all(row.published_at is not None for row in (await rig.rows()).values())

        await until(all_marked, "every row published", timeout=20)
    finally:
        await relay.stop()
    # Behind the backlog it would be the 101st (it is, without the lane); on its lane it is among the first.
    assert confirmed.index(alert.message_id) < 10, confirmed.index(alert.message_id)
    assert sorted(confirmed) == sorted(m.message_id for m in [*backlog, alert])  # each once
    assert sorted(await rig.received()) == sorted(m.message_id for m in backlog)
    got = await alerts.get(no_ack=True, timeout=5)
    assert got.message_id == alert.message_id
    assert await alerts.get(no_ack=True, fail=False, timeout=1) is None
    await alerts.delete(if_unused=False, if_empty=False)


async def test_a_clean_stop_finishes_the_urgent_batch_in_flight(rig: Rig, clean_broker: str) -> None:
    # Stopped while an alert is being published: it is confirmed and marked, not left to a later sweep (which
    # would publish it a second time).
    channel = await rig.connection.channel()
    alerts = await channel.declare_queue(f"spike.relay-test-{uuid.uuid4().hex[:8]}", durable=True)
    relay = OutboxRelay(rig.sessions, clean_broker, sweep_after_s=60, poll_interval_s=0.1, urgent_prefixes=["spike."])
    original = relay._publish
    started = asyncio.Event()

    async def slow_publish(message: Any, created_at: dt.datetime, **lane: bool) -> None:
        started.set()
        await asyncio.sleep(0.5)
        await original(message, created_at, **lane)

    relay._publish = slow_publish  # type: ignore[method-assign]
    await relay.start()
    alert = Outgoing(f"relay-test-alert-{uuid.uuid4().hex[:8]}", exchange="", routing_key=alerts.name, body=b"{}")
    now = dt.datetime.now(dt.UTC)
    await rig.commit([alert], now)
    relay.handoff([alert], now)
    await asyncio.wait_for(started.wait(), 5)
    await relay.stop()
    assert (await rig.rows())[alert.message_id].published_at is not None
    got = await alerts.get(no_ack=True, timeout=5)
    assert got.message_id == alert.message_id
    await alerts.delete(if_unused=False, if_empty=False)


async def test_the_sweep_publishes_what_no_hand_off_did_but_not_before_its_time(rig: Rig, clean_broker: str) -> None:
    # A writer that died after its commit (or another replica's fresh rows): handed to a relay that is gone.
    orphans = [rig.message(n) for n in range(5)]
    await rig.commit(orphans, dt.datetime.now(dt.UTC))
    relay = OutboxRelay(rig.sessions, clean_broker, sweep_after_s=2.0, poll_interval_s=0.1)
    await relay.start()
    try:
        await asyncio.sleep(0.8)
        # Still the writer's: another relay leaves fresh rows alone, so a live writer's are not published twice.
        assert await rig.received(settle=0.1) == []
        assert all(row.published_at is None for row in (await rig.rows()).values())

        async def swept() -> bool:
            return all(row.published_at is not None for row in (await rig.rows()).values())

        await until(swept, "the orphaned rows swept up", timeout=15)
    finally:
        await relay.stop()
    assert sorted(await rig.received()) == sorted(m.message_id for m in orphans)


async def test_an_unroutable_hand_off_stays_in_the_outbox_with_its_error(rig: Rig, clean_broker: str) -> None:
    relay = OutboxRelay(rig.sessions, clean_broker, sweep_after_s=60, poll_interval_s=0.1)
    await relay.start()
    try:
        good, lost = rig.message(1), rig.message(2, routable=False)
        now = dt.datetime.now(dt.UTC)
        await rig.commit([good, lost], now)
        relay.handoff([good, lost], now)

        async def settled() -> bool:
            rows = await rig.rows()
            return rows[good.message_id].published_at is not None and rows[lost.message_id].attempts == 1

        await until(settled, "the good row marked, the unroutable one's failure recorded", timeout=10)
    finally:
        await relay.stop()
    rows = await rig.rows()
    assert rows[lost.message_id].published_at is None  # the sweep tries again later
    assert (
        "NO_ROUTE" in (rows[lost.message_id].last_error or "")
        or "route" in (rows[lost.message_id].last_error or "").lower()
    )
    assert relay.failed == 1
    assert await rig.received() == [good.message_id]


async def test_a_clean_stop_publishes_and_marks_what_was_handed_over(rig: Rig, clean_broker: str) -> None:
    relay = OutboxRelay(
        rig.sessions, clean_broker, batch_size=20, sweep_after_s=60, poll_interval_s=0.1, mark_interval_s=5.0
    )
    await relay.start()
    messages = [rig.message(n) for n in range(50)]
    now = dt.datetime.now(dt.UTC)
    await rig.commit(messages, now)
    relay.handoff(messages, now)
    await relay.stop()  # at once: before the hand-off ran (50 messages, batches of 20), long before the next marking
    assert all(row.published_at is not None for row in (await rig.rows()).values())
    assert sorted(await rig.received()) == sorted(m.message_id for m in messages)


async def test_rows_of_a_writer_without_a_relay_are_swept_at_once(rig: Rig, clean_broker: str) -> None:
    # `hub run status --no-relay`, the privacy command with the broker down: nobody will hand these over.
    unowned = [rig.message(n) for n in range(5)]
    await rig.commit(unowned, dt.datetime.now(dt.UTC), handed_off=False)
    relay = OutboxRelay(rig.sessions, clean_broker, sweep_after_s=60, poll_interval_s=0.1)
    await relay.start()
    try:

        async def swept() -> bool:
            return all(row.published_at is not None for row in (await rig.rows()).values())

        await until(swept, "rows nobody hands over swept up without the grace period", timeout=5)
    finally:
        await relay.stop()
    assert sorted(await rig.received()) == sorted(m.message_id for m in unowned)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_unroutable_rows_are_parked_and_never_hold_up_fresh_ones(rig: Rig, clean_broker: str) -> None:
    # 1,000 rows no queue takes (a key nobody binds), from writers without a relay: the sweep's to publish.
    lost = [rig.message(n, routable=False) for n in range(1000)]
    await rig.commit(lost, dt.datetime.now(dt.UTC), handed_off=False)
    grace = 10.0
    relay = OutboxRelay(
        rig.sessions, clean_broker, sweep_after_s=grace, poll_interval_s=0.5, max_attempts=3, retry_backoff_s=0.5
    )
    await relay.start()
    try:
        await asyncio.sleep(1.0)  # the sweep is busy with the lost rows
        fresh = rig.message(1)
        committed = asyncio.get_running_loop().time()
        await rig.commit([fresh], dt.datetime.now(dt.UTC), handed_off=False)

        async def fresh_published() -> bool:
            return (await rig.rows())[fresh.message_id].published_at is not None

        await until(fresh_published, "the fresh row published beside 1,000 unroutable ones", timeout=grace)
        took = asyncio.get_running_loop().time() - committed

        async def all_parked() -> bool:
            rows = await rig.rows()
            return all(rows[m.message_id].parked_at is not None for m in lost)

        await until(all_parked, "every unroutable row parked after 3 attempts", timeout=30)
        await asyncio.sleep(1.5)  # parked is parked: no further attempts
    finally:
        await relay.stop()
    rows = await rig.rows()
    assert took < grace, f"the fresh row took {took:.1f} s"
    print(f"fresh row published {took:.2f} s after its commit, beside 1,000 unroutable rows")
    assert {rows[m.message_id].attempts for m in lost} == {3}
    assert all("NO_ROUTE" in (rows[m.message_id].last_error or "") for m in lost)
    assert all(rows[m.message_id].published_at is None for m in lost)
    assert await rig.received() == [fresh.message_id]
    assert await parked_count(rig.sessions) == 1000  # what `hub_outbox_parked` shows


async def test_a_lost_connection_does_not_grow_a_rows_back_off(rig: Rig, clean_broker: str) -> None:
    # A publish lost with its connection (a node going away) says nothing about the row: it is tried again after
    # the first back-off, however often that happened; only the broker's answers about it (returned) count.
    relay = OutboxRelay(rig.sessions, clean_broker, retry_backoff_s=1.0, max_backoff_s=300.0, max_attempts=3)
    lost_with_node, unroutable = rig.message(1), rig.message(2, routable=False)
    await rig.commit([lost_with_node, unroutable], dt.datetime.now(dt.UTC), handed_off=False)
    rows = await rig.rows()
    channel = await rig.connection.channel(publisher_confirms=True, on_return_raises=True)
    with pytest.raises(aio_pika.exceptions.PublishError) as raised:  # what the broker's NO_ROUTE raises
        await channel.default_exchange.publish(
            aio_pika.Message(b"{}"), routing_key=unroutable.routing_key, mandatory=True
        )
    returned = raised.value
    gone = aiormq.exceptions.ChannelInvalidStateError("writer is closed")
    for _ in range(6):
        async with rig.sessions() as session, session.begin():
            await relay._record_failures(
                session,
                [
                    (row, gone if row.message_id == lost_with_node.message_id else returned, row.attempts + 1)
                    for row in rows.values()
                ],
            )
        rows = await rig.rows()
    now = dt.datetime.now(dt.UTC)
    lost_row, unroutable_row = rows[lost_with_node.message_id], rows[unroutable.message_id]
    assert lost_row.attempts == 0
    assert lost_row.parked_at is None
    assert "ChannelInvalidStateError" in (lost_row.last_error or "")
    assert lost_row.next_attempt_at is not None
    assert aware(lost_row.next_attempt_at) - now < dt.timedelta(seconds=1.5)
    assert unroutable_row.attempts == 6
    assert unroutable_row.parked_at is not None  # parked at its third

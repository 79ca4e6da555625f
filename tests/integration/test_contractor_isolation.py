"""The isolation matrix with users made by `provision`, in a vhost of the test's own: every attempt of contractor A on
what is not its own is refused by the broker itself (403 ACCESS_REFUSED, or 406 for a forged user_id).

Run with both provisioning backends: the management HTTP API and rabbitmqctl.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aio_pika
import aiormq
import pytest
from aio_pika.abc import AbstractChannel

from consumers.contractors.cli import provision_cmd
from consumers.contractors.provisioning import access_for, provision
from hub.settings import ContractorsSettings, Settings
from hub.topology import hub_topology
from infra.broker_admin import connect_admin
from infra.topology import declare_topology
from tests.contractors_support import MANAGEMENT_URL, scratch_vhost, with_credentials, with_vhost

pytestmark = pytest.mark.integration

A, B = "waste_company", "grid_operator"


async def refused(
    url: str, attempt: Callable[[AbstractChannel], Awaitable[object]], *, code: int = 403
) -> aiormq.exceptions.AMQPError:
    """Run `attempt` on a fresh channel of A; it must fail with the broker's `code`."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)

        async def attempt_and_round_trip() -> None:
            await asyncio.wait_for(attempt(channel), 10)
            # A refused publish closes the channel asynchronously: a round trip makes it surface.
            await asyncio.wait_for(channel.declare_queue("", passive=True), 10)

        with pytest.raises(aiormq.exceptions.ChannelClosed) as caught:
            await attempt_and_round_trip()
        error = caught.value
        expected = (
            aiormq.exceptions.ChannelAccessRefused if code == 403 else aiormq.exceptions.ChannelPreconditionFailed
        )
        assert isinstance(error, expected), f"expected {code}, got {type(error).__name__}: {error.args}"
        return error
    finally:
        await connection.close()


def status_message(user_id: str | None, assignee: str) -> aio_pika.Message:
    body = {
        "work_order_id": "wo-00000000000000000000000000000000",
        "assignee": assignee,
        "status": "accepted",
        "changed_at": "2026-12-01T09:00:00+01:00",
        "planned_for": None,
        "reason": None,
        "note": None,
    }
    return aio_pika.Message(
        json.dumps(body).encode(), message_id=str(uuid.uuid4()), user_id=user_id, content_type="application/json"
    )


@pytest.mark.parametrize("backend", ["http", "rabbitmqctl"])
async def test_isolation_matrix_every_attempt_refused_by_the_broker(amqp_url: str, backend: str) -> None:
    async with scratch_vhost(amqp_url, "contractors-iso") as vhost:
        url = with_vhost(amqp_url, vhost)
        await declare_topology(url, hub_topology(["status"], [A, B]), retry_delay_ms=1000, delivery_limit=5)
        prefix = f"t{uuid.uuid4().hex[:6]}-"
        admin = await connect_admin(backend, amqp_url=url, management_url=MANAGEMENT_URL)
        assert admin.name == backend
        # A, the user under test, is made by the backend under test; B (the victim) always over HTTP (faster).
        http = await connect_admin("http", amqp_url=url, management_url=MANAGEMENT_URL)
        try:
            done = await provision(admin, vhost, [access_for(A, prefix)])
            done += await provision(http, vhost, [access_for(B, prefix)])
            users = {d.access.assignee: (d.access.user, d.password) for d in done}
            assert all(d.created and d.password for d in done)
            # Provisioning again changes nothing and shows no password: the existing ones stay valid.
            again = await provision(http, vhost, [access_for(A, prefix)])
            assert not again[0].created
            assert again[0].password is None

            user_a, password_a = users[A]
            user_b, _ = users[B]
            assert password_a is not None
            url_a = with_credentials(url, user_a, password_a)
            # One work order on each queue, put there by the hub.
            hub = await aio_pika.connect(url)
            async with hub:
                ch = await hub.channel(publisher_confirms=True)
                ex = await ch.get_exchange("city.events")
                for code in (A, B):
                    await ex.publish(aio_pika.Message(b"{}"), routing_key=f"workorder.issued.{code}", mandatory=True)

            own, other = f"workorders.{A}", f"workorders.{B}"

            async def ignore(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                return None

            async def consume_other(ch: AbstractChannel) -> object:
                queue = await ch.get_queue(other, ensure=False)
                return await queue.consume(ignore)

            async def get_other(ch: AbstractChannel) -> object:
                return await (await ch.get_queue(other, ensure=False)).get(fail=False)

            async def purge_other(ch: AbstractChannel) -> object:
                return await (await ch.get_queue(other, ensure=False)).purge()

            async def delete_other(ch: AbstractChannel) -> object:
                return await ch.queue_delete(other)

            async def declare_queue(ch: AbstractChannel) -> object:
                return await ch.declare_queue(f"{user_a}.sniffer", durable=False)

            async def declare_exchange(ch: AbstractChannel) -> object:
                return await ch.declare_exchange(f"{user_a}.ex", aio_pika.ExchangeType.FANOUT)

            async def bind_everything(ch: AbstractChannel) -> object:
                return await (await ch.get_queue(own, ensure=False)).bind("city.events", "#")

            async def publish(ch: AbstractChannel, exchange: str, key: str, message: aio_pika.Message) -> object:
                target = ch.default_exchange if exchange == "" else await ch.get_exchange(exchange, ensure=False)
                return await target.publish(message, routing_key=key)

            matrix: list[tuple[str, Callable[[AbstractChannel], Awaitable[object]], int]] = [
                ("consume B's queue", consume_other, 403),
                ("get from B's queue", get_other, 403),
                ("purge B's queue", purge_other, 403),
                ("delete B's queue", delete_other, 403),
                ("declare a queue", declare_queue, 403),
                ("declare an exchange", declare_exchange, 403),
                ("bind its own queue to city.events with #", bind_everything, 403),
                ("publish report.filed", lambda ch: publish(ch, "city.events", "report.filed", aio_pika.Message(b"{}")), 403),
                ("publish a work order", lambda ch: publish(ch, "city.events", f"workorder.issued.{A}", aio_pika.Message(b"{}")), 403),
                ("publish on the default exchange", lambda ch: publish(ch, "", "hub.status", status_message(None, A)), 403),
                ("publish to the dead-letter exchange", lambda ch: publish(ch, "hub.dead", "hub.status", status_message(None, A)), 403),
                ("forge B's status (user_id of B)", lambda ch: publish(ch, "city.events", "workorder.status", status_message(user_b, B)), 406),
            ]  # fmt: skip
            for label, attempt, code in matrix:
                error = await refused(url_a, attempt, code=code)
                text = str(error.args)
                assert ("ACCESS_REFUSED" if code == 403 else "PRECONDITION_FAILED") in text, (label, text)

            # What A may do: read its own queue, and send a status update as itself.
            connection = await aio_pika.connect(url_a)
            async with connection:
                ch = await connection.channel(publisher_confirms=True)
                mine = await (await ch.get_queue(own, ensure=False)).get(fail=False)
                assert mine is not None
                await mine.ack()
                ex = await ch.get_exchange("city.events", ensure=False)
                await ex.publish(status_message(user_a, A), routing_key="workorder.status", mandatory=True)
            # B's order is still there: nothing A did touched it.
            hub = await aio_pika.connect(url)
            async with hub:
                ch = await hub.channel()
                q = await ch.declare_queue(other, passive=True)
                assert q.declaration_result.message_count == 1
                status_q = await ch.declare_queue("hub.status", passive=True)
                assert status_q.declaration_result.message_count == 1
        finally:
            await admin.delete_user(access_for(A, prefix).user)
            await http.delete_user(access_for(B, prefix).user)
            await admin.aclose()
            await http.aclose()


async def test_provision_command_writes_passwords_once_and_dry_run_changes_nothing(
    amqp_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with scratch_vhost(amqp_url, "contractors-cli") as vhost:
        url = with_vhost(amqp_url, vhost)
        prefix = f"t{uuid.uuid4().hex[:6]}-"
        settings = Settings(
            amqp_url=url, contractors=ContractorsSettings(contractor_user_prefix=prefix, broker_admin="auto")
        )
        admin = await connect_admin("http", amqp_url=url, management_url=MANAGEMENT_URL)
        try:
            ns = argparse.Namespace(dry_run=True, secrets_file=None, rotate_passwords=False, vhost=None)
            assert await asyncio.to_thread(provision_cmd, ns, settings) == 0
            assert not await admin.user_exists(f"{prefix}waste_company")
            secrets = tmp_path / "secrets.json"
            ns = argparse.Namespace(dry_run=False, secrets_file=secrets, rotate_passwords=False, vhost=None)
            assert await asyncio.to_thread(provision_cmd, ns, settings) == 0
            written = json.loads(secrets.read_text())
            assert set(written) == {f"{prefix}{c}" for c in ("waste_company", "grid_operator", "road_firm")}
            assert secrets.stat().st_mode & 0o777 == 0o600
            out = capsys.readouterr().out
            assert all(entry["password"] not in out for entry in written.values())
            # The passwords work, in this vhost.
            user = f"{prefix}road_firm"
            connection = await aio_pika.connect(with_credentials(url, user, written[user]["password"]))
            await connection.close()
        finally:
            for code in ("waste_company", "grid_operator", "road_firm"):
                await admin.delete_user(f"{prefix}{code}")
            await admin.aclose()

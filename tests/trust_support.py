"""Test helpers for the trust-at-the-edges tests: a hub in a vhost of its own with two provisioned contractors."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aio_pika

from consumers.contractors.provisioning import access_for, provision
from hub.bootstrap import Hub, build_hub
from hub.settings import ConsumingSettings, ContractorsSettings, Settings
from infra.broker_admin import connect_admin
from tests.contractors_support import MANAGEMENT_URL, scratch_vhost, with_credentials, with_vhost

A, B = "waste_company", "grid_operator"


@dataclass
class Contractors:
    """A hub (in this process) in a scratch vhost; contractors A and B each with a broker user of their own."""

    url: str  # the hub's (admin) URL in the vhost
    vhost: str
    hub: Hub
    users: dict[str, tuple[str, str]]  # assignee -> (user, password)

    def url_of(self, assignee: str) -> str:
        user, password = self.users[assignee]
        return with_credentials(self.url, user, password)

    def user(self, assignee: str) -> str:
        return self.users[assignee][0]

    async def publish_status(
        self,
        as_assignee: str,
        body: dict[str, Any],
        *,
        message_id: str | None = None,
        user_id: str | None = "own",
    ) -> str:
        """Publish a `workorder.status` as contractor `as_assignee`, on its own connection and broker user."""
        message_id = message_id or f"st-{uuid.uuid4().hex}"
        connection = await aio_pika.connect(self.url_of(as_assignee))
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange("city.events", ensure=False)
            await exchange.publish(
                aio_pika.Message(
                    json.dumps(body).encode(),
                    message_id=message_id,
                    user_id=self.user(as_assignee) if user_id == "own" else user_id,
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key="workorder.status",
            )
        return message_id


@contextlib.asynccontextmanager
async def contractors_hub(
    amqp_url: str, database_url: str, consumers: list[str], **overrides: Any
) -> AsyncIterator[Contractors]:
    async with scratch_vhost(amqp_url, "trust") as vhost:
        url = with_vhost(amqp_url, vhost)
        prefix = f"t{uuid.uuid4().hex[:6]}-"
        admin = await connect_admin("http", amqp_url=url, management_url=MANAGEMENT_URL)
        users: dict[str, tuple[str, str]] = {}
        try:
            done = await provision(admin, vhost, [access_for(A, prefix), access_for(B, prefix)])
            for d in done:
                assert d.password is not None
                users[d.access.assignee] = (d.access.user, d.password)
            settings = Settings(
                amqp_url=url,
                database_url=database_url,
                **overrides,
                contractors=ContractorsSettings(contractor_user_prefix=prefix),
                consuming=ConsumingSettings(retry_delay_ms=500),
            )
            hub = build_hub(settings, consumers=consumers)
            await hub.start()
            try:
                yield Contractors(url=url, vhost=vhost, hub=hub, users=users)
            finally:
                await hub.stop()
        finally:
            for user, _ in users.values():
                with contextlib.suppress(Exception):
                    await admin.delete_user(user)
            await admin.aclose()


def status_body(work_order_id: str, assignee: str, status: str, at: dt.datetime, **extra: Any) -> dict[str, Any]:
    return {
        "work_order_id": work_order_id,
        "assignee": assignee,
        "status": status,
        "changed_at": at.isoformat(),
    } | extra


async def queue_depth(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, passive=True)
        return int(q.declaration_result.message_count or 0)

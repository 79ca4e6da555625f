"""Messages a consumer emits are rows of the outbox, written in the consumer's transaction."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.base import Contract
from infra import cloudevents
from infra.db.dialect import insert_ignore
from infra.db.tables import OutboxMessage

log = logging.getLogger(__name__)

HUB_SOURCE = "/city/contact-hub"


def filed_report_message_id(report_id: str) -> str:
    """The message id of a `report.filed` the hub writes itself (Open311's intake): its body holds the reporter's
    contact data, so an erasure scrubs it with the report's work orders."""
    return f"report.filed/{report_id}"


@dataclass(frozen=True)
class Outgoing:
    """One message to publish after commit. `message_id` is deterministic so a redelivery emits the same id."""

    message_id: str
    exchange: str
    routing_key: str
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    message_type: str | None = None
    correlation_id: str | None = None

    @classmethod
    def of(
        cls,
        message: Contract,
        *,
        exchange: str,
        routing_key: str,
        message_id: str,
        subject: str | None = None,
        correlation_id: str | None = None,
        time: dt.datetime | None = None,
    ) -> Outgoing:
        meta = cloudevents.meta_for(message, source=HUB_SOURCE, event_id=message_id, subject=subject, time=time)
        return cls(
            message_id=message_id,
            exchange=exchange,
            routing_key=routing_key,
            body=message.model_dump_json().encode(),
            headers=cloudevents.amqp_headers(meta),
            message_type=message.ce_type,
            correlation_id=correlation_id,
        )


def outbox_values(messages: Sequence[Outgoing], now: dt.datetime, *, handed_off: bool) -> list[dict[str, Any]]:
    """The `outbox` rows for messages emitted in a transaction committed at `now`.

    `handed_off`: the writer gives them to its own relay right after the commit (`OutboxRelay.handoff`); rows
    nobody hands off are for any relay's sweep at once.
    """
    return [
        {
            "message_id": m.message_id,
            "exchange": m.exchange,
            "routing_key": m.routing_key,
            "body": m.body,
            "headers": m.headers,
            "content_type": cloudevents.CONTENT_TYPE,
            "message_type": m.message_type,
            "correlation_id": m.correlation_id,
            "created_at": now,
            "attempts": 0,
            "handed_off": handed_off,
        }
        for m in messages
    ]


# Told after a commit which outbox rows it wrote, and when: the relay's hand-off (`OutboxRelay.handoff`).
OnCommit = Callable[[list[Outgoing], dt.datetime], None]


class OutboxWriter:
    """The one writer of outbox rows, and its hand-off to the relay of the same process after the commit.

    `write` runs in the writer's transaction and returns the messages whose rows it inserted (a message id already
    in the outbox was written, and handed over, before); the writer calls `hand_off` with them once its
    transaction committed. The batcher (every consumer, the spikes consumer's alerts included) and the privacy
    erasures write through it. Without a relay (`hub run --no-relay`) rows are not marked handed off, so any
    relay's sweep takes them at once.
    """

    def __init__(self, on_commit: OnCommit | None = None) -> None:
        self._on_commit = on_commit

    async def write(self, session: AsyncSession, messages: Sequence[Outgoing], now: dt.datetime) -> list[Outgoing]:
        if not messages:
            return []
        stmt = insert_ignore(session, OutboxMessage).returning(OutboxMessage.__table__.c.message_id)
        rows = outbox_values(messages, now, handed_off=self._on_commit is not None)
        written = set((await session.execute(stmt, rows)).scalars())
        return [m for m in messages if m.message_id in written]

    def hand_off(self, written: list[Outgoing], now: dt.datetime) -> None:
        """After the commit. A failure is logged, never raised: committed is committed, the sweep publishes it."""
        if not written or self._on_commit is None:
            return
        try:
            self._on_commit(written, now)
        except Exception:
            log.exception("after-commit hand-off failed")

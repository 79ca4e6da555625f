"""Messages a consumer emits are rows of the outbox, written in the consumer's transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from contracts.base import Contract
from infra import cloudevents

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

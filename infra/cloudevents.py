"""CloudEvents 1.0 over AMQP (binary content mode): attributes as `cloudEvents:*` application properties,
mirrored onto the AMQP message properties so any AMQP client can read them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from contracts.base import CloudEventMeta, Contract

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
PREFIX = "cloudEvents:"


class MissingMessageId(ValueError):
    """A delivery carries neither a `cloudEvents:id` header nor an AMQP message-id."""


def new_event_id() -> str:
    return str(uuid.uuid4())


def meta_for(
    message: Contract,
    *,
    source: str,
    event_id: str | None = None,
    time: dt.datetime | None = None,
    subject: str | None = None,
) -> CloudEventMeta:
    return CloudEventMeta(
        id=event_id or new_event_id(),
        source=source,
        type=message.ce_type,
        time=time or dt.datetime.now(dt.UTC),
        subject=subject,
    )


def amqp_headers(meta: CloudEventMeta) -> dict[str, str]:
    """Application properties of the AMQP binding."""
    headers = {
        f"{PREFIX}specversion": meta.specversion,
        f"{PREFIX}id": meta.id,
        f"{PREFIX}source": meta.source,
        f"{PREFIX}type": meta.type,
    }
    if meta.time is not None:
        headers[f"{PREFIX}time"] = meta.time.isoformat()
    if meta.subject is not None:
        headers[f"{PREFIX}subject"] = meta.subject
    return headers


def amqp_properties(meta: CloudEventMeta) -> dict[str, Any]:
    """The same attributes on AMQP basic properties (keyword names of `aio_pika.Message`)."""
    return {
        "message_id": meta.id,
        "type": meta.type,
        "app_id": meta.source,
        "content_type": CONTENT_TYPE,
        "timestamp": meta.time,
    }


def message_id_of(headers: Mapping[str, Any] | None, message_id: str | None) -> str:
    """The deduplication key of a delivery: `cloudEvents:id`, else the AMQP message-id."""
    value = (headers or {}).get(f"{PREFIX}id") or message_id
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not value:
        raise MissingMessageId("message has no id: set the AMQP message-id or the 'cloudEvents:id' header")
    return str(value)

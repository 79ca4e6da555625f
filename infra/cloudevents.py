"""CloudEvents 1.0 over AMQP: what the hub writes, and every form it accepts.

Out: binary content mode, the attributes as `cloudEvents:*` application properties, mirrored onto the AMQP
message properties so any AMQP client can read them.

In (`normalize_input`), whatever a CloudEvents producer writes:
  * binary mode with `cloudEvents:` (the AMQP binding), `cloudEvents_` (the same binding's JMS-safe prefix, which
    the official SDK writes) or `ce-` headers (the SDK's RabbitMQ binding);
  * structured mode: content type `application/cloudevents+json`, the whole event in the body; its `data` becomes
    the body the consumers parse and its attributes `cloudEvents:*` headers.
The id (the deduplication key) is the CloudEvents id, else the AMQP message-id; a message with neither is
dead-lettered (`MissingMessageId`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Mapping
from typing import Any

from contracts.base import CloudEventMeta, Contract

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
PREFIX = "cloudEvents:"
# Every prefix a binary-mode attribute may carry on input: the AMQP binding's two, the RabbitMQ binding's.
INPUT_PREFIXES = ("cloudEvents:", "cloudEvents_", "ce-", "ce_")
STRUCTURED_CONTENT_TYPE = "application/cloudevents"  # +json; the batch format is not accepted


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


def attribute_of(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """A CloudEvents attribute from binary-mode headers, under any of the accepted prefixes."""
    for prefix in INPUT_PREFIXES:
        value = (headers or {}).get(f"{prefix}{name}")
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if value:
            return str(value)
    return None


def message_id_of(headers: Mapping[str, Any] | None, message_id: str | None) -> str:
    """The deduplication key of a delivery: the CloudEvents id (any accepted prefix), else the AMQP message-id."""
    value = attribute_of(headers, "id") or message_id
    if not value:
        raise MissingMessageId(
            "message has no id: set the AMQP message-id or the CloudEvents id "
            "('cloudEvents:id', 'cloudEvents_id' or 'ce-id' header, or 'id' of a structured event)"
        )
    return str(value)


class BadStructuredEvent(ValueError):
    """A message in structured mode (`application/cloudevents+json`) whose body is no CloudEvent."""


def normalize_input(
    headers: Mapping[str, Any], body: bytes, content_type: str | None
) -> tuple[dict[str, Any], bytes, str | None]:
    """Headers, body and content type of a delivery in the hub's own form (binary mode, `cloudEvents:` headers).

    Binary attributes under another prefix are copied to `cloudEvents:<name>`; a structured event is unwrapped:
    its `data` is the body, its attributes the headers. Raises `BadStructuredEvent` for a structured body that is
    not a JSON object with an `id`, or whose data is neither JSON nor base64.
    """
    out = dict(headers)
    for key, value in headers.items():
        for prefix in INPUT_PREFIXES[1:]:
            if key.startswith(prefix) and len(key) > len(prefix):
                out.setdefault(f"{PREFIX}{key[len(prefix) :]}", value)
    if not (content_type or "").lower().startswith(STRUCTURED_CONTENT_TYPE):
        return out, body, content_type
    if "batch" in (content_type or "").lower():
        raise BadStructuredEvent("CloudEvents batch mode is not accepted: one event per message")
    try:
        event = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadStructuredEvent(f"structured CloudEvent whose body is no JSON ({type(exc).__name__})") from None
    if not isinstance(event, dict) or not event.get("id"):
        raise BadStructuredEvent("structured CloudEvent without an 'id' attribute")
    for name, value in event.items():
        if name not in ("data", "data_base64") and isinstance(value, str | int | bool):
            out[f"{PREFIX}{name}"] = str(value)
    if "data_base64" in event:
        try:
            data = base64.b64decode(str(event["data_base64"]), validate=True)
        except ValueError:
            raise BadStructuredEvent("structured CloudEvent whose data_base64 is no base64") from None
    else:
        data = json.dumps(event.get("data")).encode()
    return out, data, str(event.get("datacontenttype") or CONTENT_TYPE)

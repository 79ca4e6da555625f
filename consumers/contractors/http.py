"""The signed HTTP callback for status updates: `POST /contractors/{assignee}/workorder-status` (an `APIRouter`).

For contractors without a broker connection. The request is signed like the hub's webhooks (Standard Webhooks,
the endpoint's own secrets, timestamp within 5 minutes); its body is a `WorkOrderStatusChanged`. It goes
through the same StatusService as the broker path, in an inbox-guarded transaction keyed by `webhook-id`
(consumer `status`), so a retried callback is applied once. Answers: 200 applied or duplicate; 401 bad or
missing signature (`not_applied` with the reason when the order was merged into an incident order after the
contractor got it: recorded in its history, progress is followed on the incident order); 411 no Content-Length; 413 body over 64 KiB; 422 not a valid status update; 409 refused
(impossible change, unknown or another's work order), with a copy in `hub.status.dlq` like a refused broker
message; 503 try again later.

The headers are checked before a byte of the body is read (signature headers present, a secret for the
endpoint, `Content-Length` present and at most 64 KiB), and the body is read streamed with a hard limit: a
client that announces less than it sends is cut off at 64 KiB. An unauthenticated gigabyte never fills memory.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated

import aio_pika
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from consumers.contractors.rules import Sender, inbox_key
from consumers.contractors.status import StatusService
from consumers.router.incident_records import merged_into
from contracts import WorkOrderStatusChanged
from infra.amqp import SharedConnection
from infra.batcher import TransactionBatcher
from infra.clock import utcnow
from infra.consuming import dead_letter_headers
from infra.errors import PermanentError, describe, is_transient
from infra.http.body import BodyTooLarge, LengthRequired, announced_length, read_body
from infra.http.deps import service
from infra.http.errors import error_response, responses
from infra.http.openapi import request_body
from infra.outbox import Outgoing
from infra.topology import CITY_EVENTS, DEAD_LETTER_EXCHANGE, consumer_queue_name
from infra.webhooks import HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, WebhookVerificationError, verify

log = logging.getLogger("hub.contractors.http")

CONSUMER = "status"
MAX_BODY = 64 * 1024
PATH = "/contractors/{assignee}/workorder-status"


class StatusCallbacks:
    """The signed status callback. Its service and batcher are the composition root's (`hub.bootstrap`), built
    as the `hub.status` consumer's are; the batcher records under the consumer's name (`CONSUMER`)."""

    def __init__(
        self,
        service: StatusService,
        batcher: TransactionBatcher,
        broker: SharedConnection,
        *,
        webhook_secrets: Mapping[str, Sequence[str]],
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._secrets = webhook_secrets
        self._broker = broker
        self._clock = clock
        self.service = service
        self._batcher = batcher

    @property
    def batcher(self) -> TransactionBatcher:
        """The `status` consumer's batcher (the e-mail links apply their changes through it too)."""
        return self._batcher

    async def aclose(self) -> None:
        await self._batcher.stop()

    async def receive(self, assignee: str, request: Request) -> JSONResponse:
        headers = request.headers
        missing = [name for name in (HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE) if not headers.get(name)]
        if missing:
            return error_response(401, f"not authenticated: missing {', '.join(missing)} header")
        secrets = self._secrets.get(assignee) or []
        if not secrets:
            return error_response(401, "not authenticated: no secret for this endpoint")
        try:
            announced_length(request, MAX_BODY)
            body = await read_body(request, MAX_BODY)
        except LengthRequired:
            return error_response(411, "Content-Length required")
        except BodyTooLarge:
            return error_response(413, f"body too large: at most {MAX_BODY} bytes")
        try:
            message_id = verify(secrets, dict(headers), body, now=self._clock())
        except WebhookVerificationError as exc:
            return error_response(401, f"not authenticated: {exc}")
        try:
            change = WorkOrderStatusChanged.model_validate_json(body)
        except ValidationError as exc:
            return error_response(422, describe(exc))
        sender = Sender.http(assignee)
        key = inbox_key(sender, message_id)  # the same deduplication as the broker path: per sender, body hashed
        merged: list[str] = []

        async def go(session: AsyncSession) -> list[Outgoing]:
            outgoing = await self.service.apply(session, change, key, sender)
            if not outgoing and (into := await merged_into(session, change.work_order_id)) is not None:
                merged[:] = [into]  # a retried transaction sets it again
            return outgoing

        try:
            applied = await self._batcher.submit(key, go, body=body)
        except PermanentError as exc:
            reason = describe(exc)
            await self._dead_letter(body, message_id, reason, type(exc).__name__)
            log.warning("status callback refused", extra={"message_id": message_id, "error": reason})
            return error_response(409, reason)
        except Exception as exc:
            if not is_transient(exc):
                raise
            return error_response(503, "temporarily unavailable", headers={"Retry-After": "30"})
        if applied and merged:
            # Crossed the hub's merge: recorded in the order's history, not applied, and not an error.
            answer = CallbackAnswer(
                status="not_applied",
                webhook_id=message_id,
                detail=f"work order {change.work_order_id} was merged into incident order {merged[0]}: recorded, "
                f"not applied; report progress on {merged[0]}",
            )
        else:
            answer = CallbackAnswer(status="applied" if applied else "duplicate", webhook_id=message_id)
        return JSONResponse(answer.model_dump())

    async def _dead_letter(self, body: bytes, message_id: str, reason: str, error_class: str) -> None:
        """Keep a refused callback where refused broker messages are kept; best effort, the caller has the reason."""
        try:
            channel = await (await self._broker.get()).channel(publisher_confirms=True)
            try:
                exchange = await channel.get_exchange(DEAD_LETTER_EXCHANGE.name, ensure=False)
                await exchange.publish(
                    aio_pika.Message(
                        body,
                        message_id=message_id,
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        headers=dead_letter_headers(
                            {"x-hub-via": "http-callback"},
                            consumer=CONSUMER,
                            reason=reason,
                            error_class=error_class,
                            attempts=None,
                            original_exchange=CITY_EVENTS.name,
                            original_routing_key=WorkOrderStatusChanged.routing_key,
                            failed_at=self._clock(),
                        ),
                    ),
                    routing_key=consumer_queue_name(CONSUMER),
                    mandatory=True,
                    timeout=10,
                )
            finally:
                await channel.close()
        except Exception as exc:
            log.error("refused callback not dead-lettered: %s", describe(exc), extra={"message_id": message_id})


class CallbackAnswer(BaseModel):
    status: str  # applied | duplicate | not_applied (the order was merged into an incident order meanwhile)
    webhook_id: str
    detail: str | None = None


Callbacks = Annotated[StatusCallbacks, Depends(service(StatusCallbacks))]

router = APIRouter(tags=["contractors"])


def _header(name: str, description: str) -> dict[str, object]:
    return {"name": name, "in": "header", "required": True, "schema": {"type": "string"}, "description": description}


@router.post(
    PATH,
    summary="A contractor's status update, signed (Standard Webhooks)",
    description=__doc__,
    response_model=CallbackAnswer,
    responses=responses(401, 409, 411, 413, 422, 503),
    openapi_extra={
        **request_body(WorkOrderStatusChanged),
        "parameters": [
            _header("webhook-id", "Unique id of this update; a retry keeps it."),
            _header("webhook-timestamp", "Unix time in seconds, within 5 minutes of the hub's clock."),
            _header("webhook-signature", "`v1,<base64 HMAC-SHA256>` with one of the endpoint's secrets."),
            _header("content-length", f"Length of the body, at most {MAX_BODY} bytes."),
        ],
    },
)
async def post_status(assignee: str, request: Request, callbacks: Callbacks) -> JSONResponse:
    return await callbacks.receive(assignee, request)

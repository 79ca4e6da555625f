"""The signed HTTP callback for status updates: `POST /contractors/{assignee}/workorder-status`.

For contractors without a broker connection. The request is signed like the hub's webhooks (Standard Webhooks,
the endpoint's own secrets, timestamp within 5 minutes); its body is a `WorkOrderStatusChanged`. It goes
through the same StatusService as the broker path, in an inbox-guarded transaction keyed by `webhook-id`
(consumer `status`), so a retried callback is applied once. Answers: 200 applied or duplicate; 401 bad or
missing signature; 422 not a valid status update; 409 refused (impossible change, unknown or another's work
order), with a copy in `hub.status.dlq` like a refused broker message; 503 try again later.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from consumers.contractors.rules import Sender
from consumers.contractors.status import StatusService
from contracts import WorkOrderStatusChanged
from hub.calendar import CityCalendar
from hub.catalogue import Catalogue
from hub.settings import Settings
from infra import amqp
from infra.batcher import TransactionBatcher
from infra.broker_admin import credentials_of
from infra.clock import utcnow
from infra.consuming import dead_letter_headers
from infra.db import create_session_factory
from infra.errors import PermanentError, describe, is_transient
from infra.topology import CITY_EVENTS, DEAD_LETTER_EXCHANGE, consumer_queue_name
from infra.webhooks import WebhookVerificationError, verify

log = logging.getLogger("hub.contractors.http")

CONSUMER = "status"
MAX_BODY = 64 * 1024


class StatusCallbacks:
    def __init__(
        self, settings: Settings, engine: AsyncEngine, *, clock: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self._settings = settings
        self._clock = clock
        catalogue = Catalogue.load(settings.categories_file, settings.assignees_file)
        own_user, _ = credentials_of(settings.amqp_url)
        self.service = StatusService(
            catalogue,
            CityCalendar.load(settings.calendar_file),
            user_prefix=settings.contractor_user_prefix,
            trusted_users=frozenset({own_user, *settings.status_trusted_users}),
        )
        self._batcher = TransactionBatcher(
            CONSUMER,
            create_session_factory(engine),
            max_size=settings.batch_max_size,
            max_wait_s=settings.batch_max_wait_ms / 1000,
        )
        self._broker: AbstractRobustConnection | None = None

    @property
    def routes(self) -> list[Route]:
        return [Route("/contractors/{assignee}/workorder-status", self.post_status, methods=["POST"])]

    async def aclose(self) -> None:
        await self._batcher.stop()
        if self._broker is not None:
            await self._broker.close()

    async def post_status(self, request: Request) -> Response:
        assignee = request.path_params["assignee"]
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, status_code=413)
        secrets = self._settings.webhook_secrets.get(assignee) or []
        try:
            if not secrets:
                raise WebhookVerificationError("no secret for this endpoint")
            message_id = verify(secrets, dict(request.headers), body, now=self._clock())
        except WebhookVerificationError as exc:
            return JSONResponse({"error": f"not authenticated: {exc}"}, status_code=401)
        try:
            change = WorkOrderStatusChanged.model_validate_json(body)
        except ValidationError as exc:
            return JSONResponse({"error": describe(exc)}, status_code=422)
        sender = Sender.http(assignee)
        try:
            applied = await self._batcher.submit(
                message_id, lambda session: self.service.apply(session, change, message_id, sender)
            )
        except PermanentError as exc:
            reason = describe(exc)
            await self._dead_letter(body, message_id, reason, type(exc).__name__)
            log.warning("status callback refused", extra={"message_id": message_id, "error": reason})
            return JSONResponse({"error": reason}, status_code=409)
        except Exception as exc:
            if not is_transient(exc):
                raise
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503, headers={"retry-after": "30"})
        return JSONResponse({"status": "applied" if applied else "duplicate", "webhook_id": message_id})

    async def _dead_letter(self, body: bytes, message_id: str, reason: str, error_class: str) -> None:
        """Keep a refused callback where refused broker messages are kept; best effort, the caller has the reason."""
        try:
            if self._broker is None or self._broker.is_closed:
                self._broker = await amqp.connect_robust(self._settings.amqp_url, "http-callbacks")
            channel = await self._broker.channel(publisher_confirms=True)
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

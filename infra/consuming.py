"""What happens to a delivery: applied and acked after commit, retried after a delay, or dead-lettered.

Every consumer's router carries a `DeliveryPolicy` middleware. Its rules:
  * success: the handler acked after its transaction committed;
  * permanent failure (broken JSON, schema violation, unknown enum value, an impossible status change, a
    message without id): the raw message goes to the consumer's dead-letter queue `hub.<c>.dlq` with the
    reason in `x-hub-*` headers (published with confirm), then the delivery is acked;
  * transient failure (database or broker unreachable): rejected without requeue, so the queue's
    dead-letter exchange parks it in `hub.<c>.retry` for `retry_delay_ms` and brings it back: a delay,
    never a hot loop;
  * unexpected error: retried the same way up to `max_attempts`, then dead-lettered with the reason;
  * a delivery that keeps crashing the consumer (quorum `x-delivery-limit` reached) is dead-lettered
    before the handler sees it again.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

from aio_pika import IncomingMessage
from faststream import AckPolicy, BaseMiddleware
from faststream.rabbit import Channel, RabbitBroker, RabbitRouter
from faststream.rabbit.message import RabbitMessage
from faststream.rabbit.subscriber import RabbitSubscriber

from infra.clock import utcnow
from infra.cloudevents import BadStructuredEvent, message_id_of, normalize_input
from infra.errors import PermanentError, describe, is_permanent, is_transient
from infra.topology import CITY_EVENTS, DEAD_LETTER_EXCHANGE, ConsumerQueues, consumer_queue_name

log = logging.getLogger("hub.delivery")

HEADER_ERROR = "x-hub-error"
HEADER_ERROR_CLASS = "x-hub-error-class"
HEADER_CONSUMER = "x-hub-consumer"
HEADER_ATTEMPTS = "x-hub-attempts"
HEADER_FAILED_AT = "x-hub-failed-at"
HEADER_ORIGINAL_EXCHANGE = "x-hub-original-exchange"
HEADER_ORIGINAL_ROUTING_KEY = "x-hub-original-routing-key"
# Set by `hub dlq replay`, which sends a message straight to the consumer's queue: the key it was first published with.
HEADER_REPLAYED_ROUTE = "x-hub-replayed-route"
# The broker-validated AMQP `user_id` of a dead letter's original publisher, so that a replay (published by the
# hub's own user) keeps its verified sender. Trusted only on a message the hub's own user published.
HEADER_USER_ID = "x-hub-user-id"


# Set by the input parser on a message it could not bring into the hub's form (a broken structured CloudEvent);
# the middleware dead-letters it with this reason. Never copied into a dead letter.
HEADER_INPUT_ERROR = "x-hub-input-error"


_current: ContextVar[RabbitMessage] = ContextVar("hub_current_delivery")


def current_message() -> RabbitMessage:
    """The delivery being handled, set by the `DeliveryPolicy` middleware that every consumer carries.

    For handlers that need the message (id, ack) without a `message: RabbitMessage` parameter: FastStream
    resolves that Context parameter through fast_depends, which runs the synchronous `Context.use` in a worker
    thread (anyio.to_thread) for every delivery; that hop cost 10-30 % of a consumer's CPU per delivery
    (benchmarks/README.md). Raises LookupError outside a delivery.
    """
    return _current.get()


class CrashLoop(Exception):
    """The delivery reached the queue's delivery limit: it kept crashing or stalling the consumer."""


def _deaths(headers: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    deaths = headers.get("x-death") or []
    return [d for d in deaths if isinstance(d, Mapping)]


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def attempts_so_far(headers: Mapping[str, Any], queue: str) -> int:
    """How many times this delivery was rejected from `queue` (from the broker's `x-death` header)."""
    return sum(
        int(d.get("count", 0))
        for d in _deaths(headers)
        if _text(d.get("queue")) == queue and _text(d.get("reason")) == "rejected"
    )


def dead_letter_headers(
    headers: Mapping[str, Any],
    *,
    consumer: str,
    reason: str,
    error_class: str,
    attempts: int | None,
    original_exchange: str,
    original_routing_key: str,
    failed_at: dt.datetime,
) -> dict[str, Any]:
    """The headers of a dead letter, wherever it is refused (a broker delivery or the HTTP callback).

    The message's own headers without the broker's `x-death` history, and the reason in `x-hub-*` headers that
    `hub dlq` shows and replays by (`attempts` is None where nothing was retried).
    """
    out = {k: v for k, v in headers.items() if k not in ("x-death", HEADER_INPUT_ERROR)}
    out.update(
        {
            HEADER_ERROR: reason,
            HEADER_ERROR_CLASS: error_class,
            HEADER_CONSUMER: consumer,
            HEADER_FAILED_AT: failed_at.isoformat(),
            HEADER_ORIGINAL_EXCHANGE: original_exchange,
            HEADER_ORIGINAL_ROUTING_KEY: original_routing_key,
        }
    )
    if attempts is not None:
        out[HEADER_ATTEMPTS] = attempts
    return out


def hit_delivery_limit(headers: Mapping[str, Any], queue: str) -> bool:
    return any(_text(d.get("queue")) == queue and _text(d.get("reason")) == "delivery_limit" for d in _deaths(headers))


def original_route(message: RabbitMessage, queue: str) -> tuple[str, str]:
    """Exchange and routing key the message was first published with, before any retry round or replay."""
    deaths = _deaths(message.headers)
    if deaths:
        first = deaths[-1]  # the broker keeps the oldest entry last
        keys = first.get("routing-keys") or [""]
        exchange, key = _text(first.get("exchange", "")), _text(keys[0])
    else:
        raw = message.raw_message
        exchange, key = raw.exchange or "", raw.routing_key or ""
    replayed = message.headers.get(HEADER_REPLAYED_ROUTE)
    if replayed and exchange == "" and key == queue:  # replayed from the DLQ straight to the queue
        return CITY_EVENTS.name, _text(replayed)
    return exchange, key


def routed(consumer: str, matches: Callable[[str], bool]) -> Callable[[RabbitMessage], Awaitable[bool]]:
    """A handler filter on the routing key a delivery was first published with (after a retry round or a replay too).

    A coroutine function: FastStream runs a plain function filter in a worker thread, per handler and delivery.
    """
    queue = consumer_queue_name(consumer)

    async def filter_(message: RabbitMessage) -> bool:
        return matches(original_route(message, queue)[1])

    return filter_


def consumer_subscriber(
    router: RabbitRouter,
    queues: ConsumerQueues,
    *,
    prefetch: int,
    delivery_limit: int,
    title: str,
    description: str,
) -> RabbitSubscriber:
    """The consumer's input queue `hub.<consumer>` on `city.events`, acked by hand once its batch committed.

    `declare_topology` (run before the broker starts) declares the queue and binds every key of the consumer's
    `ConsumerQueues`; the subscriber only checks that the queue exists.
    """
    return router.subscriber(
        queues.input_queue(delivery_limit=delivery_limit),
        CITY_EVENTS,
        channel=Channel(prefetch_count=prefetch),
        ack_policy=AckPolicy.MANUAL,
        parser=parse_input,
        title=title,
        description=description,
    )


async def parse_input(
    raw: IncomingMessage, original: Callable[[IncomingMessage], Awaitable[RabbitMessage]]
) -> RabbitMessage:
    """FastStream's parse, then the message in the hub's form: every CloudEvents form accepted, the real id kept.

    FastStream makes up a random message id for a message without one, which would make two copies of an id-less
    message two different messages: the id is the AMQP message-id as sent, or nothing (then the delivery policy
    dead-letters it). Never raises: a problem is left in a header for the middleware to dead-letter with.
    """
    message = await original(raw)
    message.message_id = raw.message_id or ""
    try:
        message.headers, message.body, message.content_type = normalize_input(
            message.headers, message.body, message.content_type
        )
    except BadStructuredEvent as exc:
        message.headers = {**message.headers, HEADER_INPUT_ERROR: str(exc)}
    return message


class DeliveryPolicy:
    """Middleware factory: one per consumer (FastStream builds a middleware instance per delivery)."""

    def __init__(
        self,
        consumer: str,
        broker: RabbitBroker,
        *,
        max_attempts: int,
        max_transient_attempts: int,
        hub_user: str | None = None,
    ) -> None:
        self.consumer = consumer
        self.hub_user = hub_user
        self.queue = consumer_queue_name(consumer)
        self.broker = broker
        self.max_attempts = max_attempts
        self.max_transient_attempts = max_transient_attempts
        self.counts: dict[str, int] = {"ok": 0, "retried": 0, "dead_lettered": 0}
        # Told how long each delivery took, its ack, retry or dead-lettering included (the metrics' histogram).
        self.on_timed: Callable[[float], None] | None = None

    def __call__(self, msg: Any, /, **kwargs: Any) -> _DeliveryMiddleware:
        return _DeliveryMiddleware(msg, policy=self, **kwargs)

    async def dead_letter(self, message: RabbitMessage, reason: str, error_class: str, attempts: int) -> None:
        exchange, routing_key = original_route(message, self.queue)
        headers = dead_letter_headers(
            message.headers,
            consumer=self.consumer,
            reason=reason,
            error_class=error_class,
            attempts=attempts,
            original_exchange=exchange,
            original_routing_key=routing_key,
            failed_at=utcnow(),
        )
        raw = message.raw_message
        if not (raw.user_id and raw.user_id == self.hub_user and HEADER_USER_ID in headers):
            # Only the hub's own replay may carry it on; anyone else's message gets its own validated user.
            headers.pop(HEADER_USER_ID, None)
            if raw.user_id:
                headers[HEADER_USER_ID] = raw.user_id
        await self.broker.publish(
            raw.body,
            exchange=DEAD_LETTER_EXCHANGE,
            routing_key=self.queue,
            headers=headers,
            message_id=raw.message_id,
            correlation_id=raw.correlation_id,
            content_type=raw.content_type,
            message_type=raw.type,
            persist=True,
            mandatory=True,
        )

    async def on_failure(self, message: RabbitMessage, exc: BaseException) -> None:
        attempts = attempts_so_far(message.headers, self.queue) + 1
        reason = describe(exc)
        ids = _ids(message)
        if is_permanent(exc) or isinstance(exc, CrashLoop):
            verdict = "dead_lettered"
        elif is_transient(exc):
            verdict = "retried" if attempts < self.max_transient_attempts else "dead_lettered"
        else:
            verdict = "retried" if attempts < self.max_attempts else "dead_lettered"
        if verdict == "dead_lettered":
            try:
                await self.dead_letter(message, reason, type(exc).__name__, attempts)
            except Exception as publish_exc:
                # Without a confirmed copy in the DLQ the delivery must not be acked: retry it later.
                log.error(
                    "dead-lettering failed, retrying later",
                    extra={"consumer": self.consumer, **ids, "error": describe(publish_exc)},
                )
                await message.reject(requeue=False)
                return
            await message.ack()
        else:
            await message.reject(requeue=False)
        self.counts[verdict] += 1
        log.warning(
            "delivery %s",
            verdict,
            extra={
                "consumer": self.consumer,
                **ids,
                "attempt": attempts,
                "error_class": type(exc).__name__,
                "error": reason,
            },
        )


def _ids(message: RabbitMessage) -> dict[str, str | None]:
    try:
        mid: str | None = message_id_of(message.headers, message.message_id)
    except ValueError:
        mid = None
    return {"message_id": mid, "correlation_id": message.correlation_id}


class _DeliveryMiddleware(BaseMiddleware):
    def __init__(self, msg: Any, /, *, policy: DeliveryPolicy, **kwargs: Any) -> None:
        super().__init__(msg, **kwargs)
        self.policy = policy

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        token = _current.set(msg)
        try:
            return await self._handle(call_next, msg)
        finally:
            _current.reset(token)

    async def _handle(self, call_next: Any, msg: Any) -> Any:
        started = time.perf_counter()
        try:
            if hit_delivery_limit(msg.headers, self.policy.queue):
                raise CrashLoop("the delivery limit of the queue was reached: the message kept crashing the consumer")
            if HEADER_INPUT_ERROR in msg.headers:
                raise PermanentError(str(msg.headers[HEADER_INPUT_ERROR]))
            message_id_of(msg.headers, msg.message_id)  # none at all: MissingMessageId, dead-lettered with the reason
            result = await call_next(msg)
        except Exception as exc:
            await self.policy.on_failure(msg, exc)
            self._timed(started)
            return None
        self.policy.counts["ok"] += 1
        self._timed(started)
        # One line per delivery costs ~0.2 ms of CPU at INFO (10-15 % of the router's budget, see
        # benchmarks/README.md); below INFO not even its fields are computed.
        if log.isEnabledFor(logging.INFO):
            log.info(
                "delivery handled",
                extra={
                    "consumer": self.policy.consumer,
                    **_ids(msg),
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
        return result

    def _timed(self, started: float) -> None:
        if self.policy.on_timed is not None:
            self.policy.on_timed(time.perf_counter() - started)

"""Operating the dead-letter queues: list, show, replay and purge what a consumer could not apply.

Replay sends a message back to the consumer's own queue `hub.<c>` (not to `city.events`, which would
hand it to every consumer again), with its original message id: deduplication still applies, so a
message that was applied before changes nothing the second time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from infra import amqp
from infra.broker_admin import credentials_of
from infra.consuming import (
    HEADER_ATTEMPTS,
    HEADER_CONSUMER,
    HEADER_ERROR,
    HEADER_ERROR_CLASS,
    HEADER_FAILED_AT,
    HEADER_ORIGINAL_EXCHANGE,
    HEADER_ORIGINAL_ROUTING_KEY,
    HEADER_REPLAYED_ROUTE,
    HEADER_USER_ID,
)
from infra.topology import consumer_queue_name, dead_letter_queue_name

HUB_HEADERS = (
    HEADER_ERROR,
    HEADER_ERROR_CLASS,
    HEADER_CONSUMER,
    HEADER_ATTEMPTS,
    HEADER_FAILED_AT,
    HEADER_ORIGINAL_EXCHANGE,
    HEADER_ORIGINAL_ROUTING_KEY,
)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else "" if value is None else str(value)


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    error: str
    error_class: str
    failed_at: str
    attempts: str
    original_exchange: str
    original_routing_key: str
    headers: Mapping[str, Any]
    body: bytes

    @classmethod
    def of(cls, message: AbstractIncomingMessage) -> DeadLetter:
        h = dict(message.headers or {})
        return cls(
            message_id=message.message_id or _text(h.get("cloudEvents:id")),
            error=_text(h.get(HEADER_ERROR)),
            error_class=_text(h.get(HEADER_ERROR_CLASS)),
            failed_at=_text(h.get(HEADER_FAILED_AT)),
            attempts=_text(h.get(HEADER_ATTEMPTS)),
            original_exchange=_text(h.get(HEADER_ORIGINAL_EXCHANGE)),
            original_routing_key=_text(h.get(HEADER_ORIGINAL_ROUTING_KEY)),
            headers=h,
            body=message.body,
        )

    def summary(self) -> dict[str, str]:
        return {
            "message_id": self.message_id,
            "error_class": self.error_class,
            "error": self.error,
            "failed_at": self.failed_at,
            "attempts": self.attempts,
            "original_route": f"{self.original_exchange or '(default)'}/{self.original_routing_key}",
        }


class DeadLetterQueue:
    """One consumer's dead-letter queue, over a plain AMQP connection."""

    def __init__(self, amqp_url: str, consumer: str) -> None:
        self.amqp_url = amqp_url
        self.consumer = consumer
        self.name = dead_letter_queue_name(consumer)
        self._user = credentials_of(amqp_url)[0]

    async def _queue(self, connection: aio_pika.abc.AbstractConnection) -> AbstractQueue:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        return await channel.get_queue(self.name, ensure=True)

    async def count(self) -> int:
        connection = await amqp.connect(self.amqp_url, "dlq")
        async with connection:
            channel = await connection.channel()
            declared = await channel.declare_queue(self.name, passive=True)
            return int(declared.declaration_result.message_count or 0)

    async def peek(self, limit: int = 1000) -> list[DeadLetter]:
        """Read up to `limit` messages and put every one back: nothing leaves the queue."""
        connection = await amqp.connect(self.amqp_url, "dlq")
        async with connection:
            queue = await self._queue(connection)
            taken: list[AbstractIncomingMessage] = []
            while len(taken) < limit and (message := await queue.get(no_ack=False, fail=False)) is not None:
                taken.append(message)
            letters = [DeadLetter.of(m) for m in taken]
            for message in taken:
                await message.nack(requeue=True)
            return letters

    async def replay(self, message_id: str | None = None) -> int:
        """Send one message (by id) or all back to `hub.<consumer>`; each leaves the DLQ after the broker confirmed it.

        Each message the queue held when it began is replayed at most once, even if it fails again meanwhile.
        """
        connection = await amqp.connect(self.amqp_url, "dlq")
        replayed = 0
        async with connection:
            queue = await self._queue(connection)
            channel = queue.channel
            kept: list[AbstractIncomingMessage] = []
            # Only what the queue held when the replay began: a replayed message that its consumer dead-letters
            # again meanwhile comes back behind them, and is not replayed a second time by the same command.
            pending = int(queue.declaration_result.message_count or 0)
            while pending > 0 and (message := await queue.get(no_ack=False, fail=False)) is not None:
                pending -= 1
                letter = DeadLetter.of(message)
                if message_id is not None and letter.message_id != message_id:
                    kept.append(message)
                    continue
                headers = {k: v for k, v in letter.headers.items() if k not in HUB_HEADERS and k != "x-death"}
                headers["x-hub-replayed-from"] = self.name
                # It comes back under the queue's name: the route it was first published with picks its handler.
                headers[HEADER_REPLAYED_ROUTE] = letter.original_routing_key
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        message.body,
                        headers=headers,
                        # The verified sender stays with it: published as the hub's own user (RabbitMQ checks that),
                        # which is the one user whose `x-hub-user-id` the consumers believe.
                        user_id=self._user if HEADER_USER_ID in headers else None,
                        message_id=message.message_id,
                        correlation_id=message.correlation_id,
                        content_type=message.content_type,
                        type=message.type,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=consumer_queue_name(self.consumer),
                    mandatory=True,
                )
                await message.ack()
                replayed += 1
            for message in kept:
                await message.nack(requeue=True)
        return replayed

    async def purge(self) -> int:
        connection = await amqp.connect(self.amqp_url, "dlq")
        async with connection:
            queue = await self._queue(connection)
            result = await queue.purge()
            return int(result.message_count or 0)


def render_body(body: bytes) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to parse: shown as it came
        return body.decode("utf-8", "replace")

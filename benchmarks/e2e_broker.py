"""Broker helpers of benchmarks/e2e.py: the probe, deleting and purging queues, the work-order sink."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)


class Probe:
    """Queue depths and consumer counts by passive declare, on one connection.

    A plain (not robust) connection: a robust channel answers a passive declare of a queue it declared
    before from its cache, with the old counts.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.connection: AbstractConnection | None = None
        self.channel: AbstractChannel | None = None

    async def __aenter__(self) -> Probe:
        self.connection = await aio_pika.connect(self.url, client_properties={"connection_name": "bench-probe"})
        self.channel = await self.connection.channel()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.connection is not None
        await self.connection.close()

    async def queue(self, name: str) -> tuple[int, int]:
        """(ready messages, consumers); (-1, 0) if the queue does not exist."""
        assert self.connection is not None
        if self.channel is None or self.channel.is_closed:
            self.channel = await self.connection.channel()
        try:
            q = await self.channel.declare_queue(name, passive=True)
        except Exception:
            self.channel = None
            return -1, 0
        result = q.declaration_result
        return int(result.message_count or 0), int(result.consumer_count or 0)

    async def total(self, names: list[str]) -> int:
        total = 0
        for name in names:
            total += max(0, (await self.queue(name))[0])
        return total


async def delete_queues(url: str, names: list[str]) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        for name in names:
            channel = await connection.channel()
            with contextlib.suppress(Exception):  # an absent queue closes the channel (404)
                await channel.queue_delete(name)
            if not channel.is_closed:
                await channel.close()


async def purge_queues(url: str, names: list[str]) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        for name in names:
            channel = await connection.channel()
            with contextlib.suppress(Exception):  # an absent queue closes the channel (404)
                queue = await channel.get_queue(name, ensure=True)
                await queue.purge()
            if not channel.is_closed:
                await channel.close()


class WorkOrderSink:
    """Consumes every `workorders.*` queue (auto-ack) and calls `on_order(report_id, arrival)` per order."""

    def __init__(self, url: str, queues: list[str], on_order: Callable[[str, float], None]) -> None:
        self.url = url
        self.queues = queues
        self.on_order = on_order
        self.connection: AbstractRobustConnection | None = None

    async def __aenter__(self) -> WorkOrderSink:
        self.connection = await aio_pika.connect_robust(self.url, client_properties={"connection_name": "bench-sink"})
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=2000)

        async def on_message(message: AbstractIncomingMessage) -> None:
            arrival = time.perf_counter()
            self.on_order(json.loads(message.body)["report_id"], arrival)

        for name in self.queues:
            queue = await channel.get_queue(name, ensure=True)
            await queue.consume(on_message, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.connection is not None
        await self.connection.close()

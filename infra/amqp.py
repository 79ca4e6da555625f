"""The one way to open an AMQP connection beside the FastStream broker.

The relay, the topology declaration, the dead-letter tools, privacy scrubs, metrics, the contractor callback,
the simulator and `hub spikes broadcast` talk to RabbitMQ over plain aio-pika connections. Each is named
(`hub-<purpose>`, shown in the management UI and `rabbitmqctl list_connections`), so an operator can tell who
holds a connection; a robust connection reconnects by itself, a plain one is for a short task.
Tests and benchmarks open their own plain connections on purpose: they play the city systems outside the hub.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractRobustConnection


def _properties(purpose: str) -> dict[str, Any]:
    return {"connection_name": f"hub-{purpose}"}


async def connect(amqp_url: str, purpose: str, *, timeout: float | None = None) -> AbstractConnection:
    """A plain connection for a short task (`async with`), named `hub-<purpose>`."""
    return await aio_pika.connect(amqp_url, timeout=timeout, client_properties=_properties(purpose))


async def connect_robust(amqp_url: str, purpose: str, *, timeout: float | None = None) -> AbstractRobustConnection:
    """A connection that reconnects (and restores its channels) by itself, for a long-lived publisher."""
    return await aio_pika.connect_robust(amqp_url, timeout=timeout, client_properties=_properties(purpose))


class SharedConnection:
    """One robust connection opened on first use and reused by every caller of a process that is not a consumer
    (`hub serve`: readiness, `/metrics`, the callback's dead letters).

    A scrape or probe that opened its own connection (as `hub serve` once did: 100 concurrent GETs of `/metrics`,
    100 connections) makes the broker pay a handshake and a process for the monitoring. Concurrent first callers
    wait for the same opening (a lock); a closed connection is opened again on the next call."""

    def __init__(self, amqp_url: str, purpose: str, *, timeout_s: float = 3.0) -> None:
        self._url = amqp_url
        self._purpose = purpose
        self._timeout_s = timeout_s
        self._connection: AbstractRobustConnection | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> AbstractRobustConnection:
        """The open connection; raises (within `timeout_s`) when the broker cannot be reached."""
        connection = self._connection
        if connection is not None and not connection.is_closed:
            return connection
        async with self._lock:
            if self._connection is None or self._connection.is_closed:
                if self._connection is not None:
                    await self._connection.close()
                self._connection = await connect_robust(self._url, self._purpose, timeout=self._timeout_s)
            return self._connection

    async def close(self) -> None:
        async with self._lock:
            if self._connection is not None:
                await self._connection.close()
                self._connection = None

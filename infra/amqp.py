"""The one way to open an AMQP connection beside the FastStream broker.

The relay, the topology declaration, the dead-letter tools, privacy scrubs, metrics, the contractor callback,
the simulator and `hub spikes broadcast` talk to RabbitMQ over plain aio-pika connections. Each is named
(`hub-<purpose>`, shown in the management UI and `rabbitmqctl list_connections`), so an operator can tell who
holds a connection; a robust connection reconnects by itself, a plain one is for a short task.
Tests and benchmarks open their own plain connections on purpose: they play the city systems outside the hub.
"""

from __future__ import annotations

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

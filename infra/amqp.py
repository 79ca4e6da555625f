"""The one way to open an AMQP connection beside the FastStream broker.

The relay, the topology declaration, the dead-letter tools, privacy scrubs, metrics, the contractor callback,
the simulator and `hub spikes broadcast` talk to RabbitMQ over plain aio-pika connections. Each is named
(`hub-<purpose>`, shown in the management UI and `rabbitmqctl list_connections`), so an operator can tell who
holds a connection; a robust connection reconnects by itself, a plain one is for a short task.
Tests and benchmarks open their own plain connections on purpose: they play the city systems outside the hub.

A cluster: `HUB_AMQP_URL` may list every node, separated by commas
(`amqp://u:p@node1:5672/city,amqp://u:p@node2:5672/city,...`, the same credentials and vhost on each). A
connection opens on the first node that answers, and a robust one (the consumers' broker, the relay, `hub
serve`) reconnects to the next node when its node goes away, so the consumers follow their quorum queues' new
leaders to a surviving node.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractRobustConnection
from faststream.rabbit import RabbitBroker
from yarl import URL

# What a failed connection attempt raises: aiormq's errors, the socket's, a handshake timeout.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    aio_pika.exceptions.AMQPConnectionError,
    OSError,
    asyncio.TimeoutError,
)


def endpoints(amqp_url: str) -> list[str]:
    """The node URLs `HUB_AMQP_URL` names: one URL, or the nodes of a cluster separated by commas."""
    urls = [part.strip() for part in amqp_url.split(",") if part.strip()]
    if not urls:
        raise ValueError("no AMQP URL given")
    return urls


def primary(amqp_url: str) -> str:
    """The first node's URL: where the credentials, the vhost and the management API's host are read from."""
    return endpoints(amqp_url)[0]


class FailoverConnection(aio_pika.RobustConnection):
    """A robust connection over the nodes of a cluster: each connection attempt tries every node once, starting
    with the node after the one it used last, and fails only when none answers.

    aio-pika's robust connection reconnects, but always to the URL it was made with: when that node dies, the
    consumer waits for it instead of following its queues' new leaders. aio-pika has no hook for "a connection
    attempt starts", so this overrides the one private method every attempt goes through
    (`RobustConnection.__connect_transport`, name-mangled); `tests/integration/test_cluster.py` fails if an
    aio-pika upgrade moves it, and the lock file pins aio-pika.
    """

    nodes: tuple[URL, ...] = ()

    def __init__(self, url: URL, loop: asyncio.AbstractEventLoop | None = None, **kwargs: Any) -> None:
        super().__init__(url, loop, **kwargs)
        self._node = self.nodes.index(self.url) if self.url in self.nodes else 0
        self._attempts = 0

    async def _RobustConnection__connect_transport(self) -> None:
        attempt = super()._RobustConnection__connect_transport  # type: ignore[misc]
        error: BaseException | None = None
        # The first attempt starts on the node the connection was made with, every later one on the next node.
        first = self._node if self._attempts == 0 else self._node + 1
        self._attempts += 1
        for step in range(len(self.nodes)):
            self._node = (first + step) % len(self.nodes)
            self.url = self.nodes[self._node]
            try:
                await attempt()
                return
            except CONNECTION_ERRORS as exc:
                error = exc
        assert error is not None
        raise error


def failover_class(amqp_url: str) -> type[aio_pika.RobustConnection]:
    """The robust connection class for `HUB_AMQP_URL`: aio-pika's own for one node, `FailoverConnection` for more."""
    urls = endpoints(amqp_url)
    if len(urls) == 1:
        return aio_pika.RobustConnection
    return type("FailoverConnection", (FailoverConnection,), {"nodes": tuple(URL(u) for u in urls)})


def _properties(purpose: str) -> dict[str, Any]:
    return {"connection_name": f"hub-{purpose}"}


async def connect(amqp_url: str, purpose: str, *, timeout: float | None = None) -> AbstractConnection:
    """A plain connection for a short task (`async with`), named `hub-<purpose>`, on the first node that answers."""
    *others, last = endpoints(amqp_url)
    for url in others:
        try:
            return await aio_pika.connect(url, timeout=timeout, client_properties=_properties(purpose))
        except CONNECTION_ERRORS:
            continue
    return await aio_pika.connect(last, timeout=timeout, client_properties=_properties(purpose))


async def connect_robust(amqp_url: str, purpose: str, *, timeout: float | None = None) -> AbstractRobustConnection:
    """A connection that reconnects (and restores its channels) by itself, for a long-lived publisher; over a
    cluster it opens on the first node that answers and moves on to the next when its node goes away."""
    return await aio_pika.connect_robust(
        primary(amqp_url),
        timeout=timeout,
        client_properties=_properties(purpose),
        connection_class=failover_class(amqp_url),
    )


def cluster_broker(amqp_url: str, **kwargs: Any) -> RabbitBroker:
    """FastStream's RabbitMQ broker over every node of `HUB_AMQP_URL` (for one node, exactly a RabbitBroker).

    FastStream's broker takes one URL and hands its connection arguments to aio-pika's `connect_robust`, which
    takes the connection class as one of them; the broker has no parameter for it, so it is added to those
    arguments here (`tests/integration/test_cluster.py` shows the consumers moving to a surviving node)."""
    broker = RabbitBroker(primary(amqp_url), **kwargs)
    broker._connection_kwargs["connection_class"] = failover_class(amqp_url)
    return broker


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

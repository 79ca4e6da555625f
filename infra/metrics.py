"""Prometheus metrics: what each `hub run` process did, and what `hub serve` sees on the broker and the database.

A `hub run` process (`HubMetrics`) exposes on `HUB_METRICS_PORT`:
  * with `HUB_METRICS_FASTSTREAM`, FastStream's own (`faststream_*`, `RabbitPrometheusMiddleware`): messages
    received, processed (by status), in flight, sizes and durations per exchange and routing key, and what the
    broker published (off by default: a middleware around every delivery costs ~6 % of a consumer's CPU);
  * the hub's: `hub_deliveries_total{consumer,outcome}` (ok, retried, dead_lettered, as the delivery policy
    decided), `hub_delivery_duration_seconds{consumer}`, `hub_outbox_backlog` and `hub_outbox_parked` (sampled), `hub_outbox_published_total`
    / `hub_outbox_failed_total`, `hub_workorders_issued_total{assignee}` and `hub_alerts_raised_total{kind}`;
  * `hub_contact_center_open` (1 while the ContactCenter is open by the city's calendar: the alert on silence
    looks at opening hours only), and in every registry, `hub_build_info{version,python}` and the process's own
    `process_*` (CPU, memory, open files, start time) and `python_info`.
Work orders and alerts are counted when the broker confirmed them to the relay, so in the process that runs the
relay: that is the moment an assignee or the communication team can have them.

Counters live in the process (they restart at zero, as Prometheus expects); totals across replicas are a `sum()`.
Each hub gets its own registry, so several hubs in one process (tests) never share or clash on a metric.

`hub serve` (`ServeMetrics`, `render_serve_metrics`) adds what no single consumer knows: queue depths and consumer counts of the
hub's queues (passive declares over one connection, with a short timeout: a slow broker makes a scrape report
`hub_broker_up 0`, never hang) and the outbox backlog.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

import aio_pika
from aio_pika.abc import AbstractConnection
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from prometheus_client import (
    PLATFORM_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from infra import amqp
from infra.consuming import DeliveryPolicy
from infra.periodic import Periodic
from infra.relay import OutboxRelay, Published, parked_count, pending_count
from infra.topology import (
    WORKORDER_ISSUED_PREFIX,
    consumer_queue_name,
    dead_letter_queue_name,
    retry_queue_name,
    workorder_queue_name,
)
from infra.version import version

log = logging.getLogger(__name__)

OUTCOMES = ("ok", "retried", "dead_lettered")
ALERT_KINDS = ("detected", "update", "resolved")
# From a millisecond (a batch that filled at once) to the graceful timeout's order (a delivery held by a slow commit).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def register_build_and_process(registry: CollectorRegistry) -> None:
    """`hub_build_info{version,python}`, the process's `process_*` metrics and `python_info`, in `registry`."""
    Info("hub_build", "The hub's version (pyproject.toml) and the Python it runs on.", registry=registry).info(
        {"version": version(), "python": platform.python_version()}
    )
    ProcessCollector(registry=registry)
    registry.register(PLATFORM_COLLECTOR)


class _PolicyCounts(Collector):
    """Reads the counts the delivery policies and the relay keep anyway, at scrape time: nothing on the hot path."""

    def __init__(self, policies: Mapping[str, DeliveryPolicy], relay: OutboxRelay | None) -> None:
        self._policies = policies
        self._relay = relay

    def collect(self) -> Iterator[Metric]:
        deliveries = CounterMetricFamily(
            "hub_deliveries",
            "Deliveries per consumer and outcome: ok (applied or a duplicate), retried (back after a delay), "
            "dead_lettered (in the consumer's DLQ with the reason).",
            labels=["consumer", "outcome"],
        )
        for name, policy in sorted(self._policies.items()):
            for outcome in OUTCOMES:
                deliveries.add_metric([name, outcome], policy.counts.get(outcome, 0))
        yield deliveries
        if self._relay is not None:
            yield CounterMetricFamily(
                "hub_outbox_published",
                "Outbox messages the broker confirmed to this process's relay.",
                value=self._relay.published,
            )
            yield CounterMetricFamily(
                "hub_outbox_failed",
                "Outbox publish attempts that failed (unroutable, broker down); the row is retried.",
                value=self._relay.failed,
            )


class HubMetrics:
    """The metrics of one `hub run` process, served on their own port by a thread (a busy event loop still answers)."""

    def __init__(
        self,
        *,
        policies: Mapping[str, DeliveryPolicy],
        relay: OutboxRelay | None,
        sessions: async_sessionmaker[AsyncSession],
        assignees: Iterable[str],
        host: str,
        port: int,
        sample_interval_s: float,
        faststream: bool = False,
        open_now: Callable[[], bool] | None = None,
    ) -> None:
        """The hub's metrics on a registry of their own.

        Long because it declares each metric once, with its help text: a table, not logic.
        """
        self.registry = CollectorRegistry()
        register_build_and_process(self.registry)
        if open_now is not None:
            Gauge(
                "hub_contact_center_open",
                "1 while the ContactCenter is open (the city's calendar: opening hours, public holidays).",
                registry=self.registry,
            ).set_function(lambda: float(open_now()))
        self.host = host
        self.port = port
        self._sessions = sessions
        self.faststream = (
            RabbitPrometheusMiddleware(registry=self.registry, app_name="city-contact-hub") if faststream else None
        )
        self.delivery_seconds = Histogram(
            "hub_delivery_duration_seconds",
            "Time from receiving a delivery to its ack, retry or dead-lettering (its batch's commit included).",
            ["consumer"],
            registry=self.registry,
            buckets=DURATION_BUCKETS,
        )
        self.outbox_backlog = Gauge(
            "hub_outbox_backlog", "Outbox messages not yet published (sampled).", registry=self.registry
        )
        self.outbox_parked = Gauge(
            "hub_outbox_parked",
            "Outbox messages the broker could not route, parked until an operator clears parked_at (sampled).",
            registry=self.registry,
        )
        self.workorders_issued = Counter(
            "hub_workorders_issued",
            "Work orders the broker confirmed on their way to the assignee's queue.",
            ["assignee"],
            registry=self.registry,
        )
        self.alerts_raised = Counter(
            "hub_alerts_raised",
            "Spike alerts the broker confirmed on their way to the communication team: detected, update, resolved.",
            ["kind"],
            registry=self.registry,
        )
        # Present at zero from the start: a dashboard tells "none yet" from "not measured".
        for assignee in assignees:
            self.workorders_issued.labels(assignee)
        for kind in ALERT_KINDS:
            self.alerts_raised.labels(kind)
        self.registry.register(_PolicyCounts(policies, relay))
        self._sampler = Periodic("metrics-sampler", sample_interval_s, self.sample)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        if relay is not None:
            relay.on_published = self.outbox_published
        # Each consumer's policy times its deliveries: one histogram child each, its labels resolved once.
        for name, policy in policies.items():
            policy.on_timed = self.delivery_seconds.labels(name).observe

    def middlewares(self) -> tuple[Any, ...]:
        """Broker middlewares: FastStream's own metrics, when asked for (`HUB_METRICS_FASTSTREAM`)."""
        return () if self.faststream is None else (self.faststream,)

    def outbox_published(self, rows: Sequence[Published]) -> None:
        for row in rows:
            key = row.routing_key
            if key.startswith(f"{WORKORDER_ISSUED_PREFIX}."):
                self.workorders_issued.labels(key[len(WORKORDER_ISSUED_PREFIX) + 1 :]).inc()
            elif key.startswith("spike."):
                self.alerts_raised.labels(alert_kind(row.message_id, key)).inc()

    async def sample(self) -> None:
        self.outbox_backlog.set(await pending_count(self._sessions))
        self.outbox_parked.set(await parked_count(self._sessions))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def start(self) -> None:
        """Serve `/metrics`; a port already taken is logged, not fatal: a consumer never stops for its metrics."""
        try:
            self._server, self._thread = start_http_server(self.port, addr=self.host, registry=self.registry)
        except OSError as exc:
            log.error("metrics endpoint not started on %s:%s: %s", self.host, self.port, exc)
        else:
            log.info("metrics on http://%s:%s/metrics", self.host, self.port)
        await self._sampler.start()

    async def stop(self) -> None:
        await self._sampler.stop()
        server, self._server = self._server, None
        if server is not None:
            # shutdown() waits for the serving thread's loop to notice: off the event loop.
            await asyncio.to_thread(server.shutdown)
            server.server_close()


def alert_kind(message_id: str, routing_key: str) -> str:
    """Alert message ids are `<incident id>/<kind>/<seq>` (spikes); the routing key says detected or resolved."""
    parts = message_id.rsplit("/", 2)
    if len(parts) == 3 and parts[1] in ALERT_KINDS:
        return parts[1]
    return routing_key.split(".", 1)[-1]


# --- hub serve: queue depths, consumer counts, outbox backlog ---


@dataclass(frozen=True)
class QueueSample:
    queue: str
    messages: int
    consumers: int


async def sample_queues(
    broker: str | AbstractConnection, names: Sequence[str], *, timeout_s: float = 3.0
) -> list[QueueSample]:
    """Passive declares over one connection (`broker`, or one opened to that URL for the call); a queue that does
    not exist is left out. Raises when the broker is down."""
    async with asyncio.timeout(timeout_s):
        if isinstance(broker, str):
            async with await amqp.connect(broker, "metrics") as own:
                return await _sample(own, names)
        return await _sample(broker, names)


async def _sample(connection: AbstractConnection, names: Sequence[str]) -> list[QueueSample]:
    samples: list[QueueSample] = []
    channel = await connection.channel()
    try:
        for name in names:
            try:
                declared = await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelClosed:
                # A missing queue closes the channel (404): a fresh one for the next name.
                channel = await connection.channel()
                continue
            result = declared.declaration_result
            samples.append(QueueSample(name, int(result.message_count or 0), int(result.consumer_count or 0)))
    finally:
        if not channel.is_closed:
            await channel.close()
    return samples


Sampler = Callable[[], Awaitable[Sequence[Metric]]]


async def render_serve_metrics(
    broker: str | AbstractConnection,
    sessions: async_sessionmaker[AsyncSession],
    queues: Sequence[str],
    *,
    timeout_s: float = 3.0,
    samplers: Sequence[Sampler] = (),
) -> bytes:
    """One scrape of `hub serve`: sampled now, all sides at once, each bounded by `timeout_s`.

    `samplers` add what the composition root knows how to read (the delivery endpoints' circuits); one that fails
    or times out leaves its metrics out of this scrape.
    """
    return await _scrape(sample_queues(broker, queues, timeout_s=timeout_s), sessions, samplers, timeout_s)


async def _scrape(
    queue_sample: Awaitable[list[QueueSample]],
    sessions: async_sessionmaker[AsyncSession],
    samplers: Sequence[Sampler],
    timeout_s: float,
) -> bytes:
    async def outbox() -> int:
        async with asyncio.timeout(timeout_s):
            return await pending_count(sessions)

    async def bounded(sampler: Sampler) -> Sequence[Metric]:
        async with asyncio.timeout(timeout_s):
            return await sampler()

    async def extras() -> list[Sequence[Metric] | BaseException]:
        return await asyncio.gather(*(bounded(sampler) for sampler in samplers), return_exceptions=True)

    started = time.perf_counter()
    queue_result, outbox_result, extra_results = await asyncio.gather(
        queue_sample, outbox(), extras(), return_exceptions=True
    )
    if isinstance(extra_results, BaseException):
        extra_results = [extra_results]
    extra: list[Metric] = []
    for result in extra_results:
        if isinstance(result, BaseException):
            log.warning("metrics sampler failed: %s", result)
        else:
            extra.extend(result)
    collector = _Snapshot(
        queues=None if isinstance(queue_result, BaseException) else queue_result,
        backlog=None if isinstance(outbox_result, BaseException) else outbox_result,
        seconds=time.perf_counter() - started,
        extra=tuple(extra),
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    register_build_and_process(registry)
    return generate_latest(registry)


class ServeMetrics:
    """`hub serve`'s scrapes over ONE reused broker connection, each sample kept `max_age_s`.

    Concurrent scrapes within that time share one sample (the first one's task), so a burst of scrapes costs the
    broker one round of passive declares and no new connection."""

    def __init__(
        self,
        connection: Callable[[], Awaitable[AbstractConnection]],
        sessions: async_sessionmaker[AsyncSession],
        queues: Sequence[str],
        *,
        samplers: Sequence[Sampler] = (),
        max_age_s: float = 2.0,
        timeout_s: float = 3.0,
    ) -> None:
        self._connection = connection
        self._sessions = sessions
        self._queues = list(queues)
        self._samplers = list(samplers)
        self._max_age_s = max_age_s
        self._timeout_s = timeout_s
        self._sample: tuple[float, asyncio.Task[bytes]] | None = None

    async def render(self) -> bytes:
        now = time.monotonic()
        if self._sample is None or now - self._sample[0] > self._max_age_s:
            self._sample = (now, asyncio.create_task(self._render()))
        return await asyncio.shield(self._sample[1])

    async def _render(self) -> bytes:
        async def queues() -> list[QueueSample]:
            async with asyncio.timeout(self._timeout_s):
                return await _sample(await self._connection(), self._queues)

        return await _scrape(queues(), self._sessions, self._samplers, self._timeout_s)


@dataclass(frozen=True, eq=False)  # hashed by identity: the registry keys its collectors
class _Snapshot(Collector):
    queues: list[QueueSample] | None
    backlog: int | None
    seconds: float
    extra: tuple[Metric, ...] = ()

    def collect(self) -> Iterator[Metric]:
        yield from self.extra
        yield GaugeMetricFamily("hub_broker_up", "1 if the broker answered this scrape.", value=self.queues is not None)
        yield GaugeMetricFamily(
            "hub_database_up", "1 if the database answered this scrape.", value=self.backlog is not None
        )
        messages = GaugeMetricFamily(
            "hub_queue_messages", "Messages ready in each of the hub's queues.", labels=["queue"]
        )
        consumers = GaugeMetricFamily(
            "hub_queue_consumers", "Consumers attached to each of the hub's queues.", labels=["queue"]
        )
        for sample in self.queues or ():
            messages.add_metric([sample.queue], sample.messages)
            consumers.add_metric([sample.queue], sample.consumers)
        yield messages
        yield consumers
        if self.backlog is not None:
            yield GaugeMetricFamily("hub_outbox_backlog", "Outbox messages not yet published.", value=self.backlog)
        yield GaugeMetricFamily("hub_scrape_duration_seconds", "Time this scrape took.", value=self.seconds)


def hub_queue_names(consumers: Iterable[str], assignees: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    """Every queue of the hub: each consumer's input, retry and dead-letter queue, each assignee's, and `extra`."""
    names: list[str] = []
    for consumer in consumers:
        names += [consumer_queue_name(consumer), retry_queue_name(consumer), dead_letter_queue_name(consumer)]
    names += [workorder_queue_name(a) for a in assignees]
    names += list(extra)
    return names

"""Publish simulated traffic to RabbitMQ the way the city's systems do: CloudEvents over AMQP, with confirms.

Each message goes to the `city.events` topic exchange under its contract's routing key, persistent, with
the CloudEvents attributes as `cloudEvents:*` headers and on the AMQP properties (binary content mode,
see `infra.cloudevents`). `time` is the simulated event time, `id` the scenario's deterministic event id,
so a replay of the same file is recognised by the hub's deduplication.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange
from aio_pika.exceptions import AMQPConnectionError, ChannelInvalidStateError, DeliveryError

from hub.simulator.events import SimEvent
from infra import amqp
from infra.cloudevents import amqp_headers, amqp_properties, meta_for
from infra.topology import CITY_EVENTS

log = logging.getLogger(__name__)

DEFAULT_SOURCE = "/city/simulator"

# Failures worth another try: the robust connection reconnects on its own but does not replay a publication
# that was in flight, and a nack means the broker could not take the message just then. A retry may
# duplicate a message whose confirm was lost; the hub deduplicates on the CloudEvents id, which is stable.
_RETRYABLE = (AMQPConnectionError, ChannelInvalidStateError, ConnectionError, DeliveryError, TimeoutError)


async def declare_city_events(channel: AbstractChannel) -> AbstractExchange:
    """Declare `city.events` with exactly the arguments of `infra.topology` (a mismatch would fail the channel)."""
    return await channel.declare_exchange(
        CITY_EVENTS.name,
        aio_pika.ExchangeType(CITY_EVENTS.type.value),
        durable=CITY_EVENTS.durable,
        auto_delete=CITY_EVENTS.auto_delete,
        arguments=CITY_EVENTS.arguments,
    )


def amqp_message(event: SimEvent, *, source: str = DEFAULT_SOURCE) -> aio_pika.Message:
    """The AMQP message for one simulated event: JSON body, CloudEvents headers and properties, persistent."""
    meta = meta_for(event.message, source=source, event_id=event.event_id, time=event.at, subject=event.subject)
    return aio_pika.Message(
        body=event.message.model_dump_json().encode("utf-8"),
        headers=dict(amqp_headers(meta)),
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        **amqp_properties(meta),
    )


async def _publish_one(
    exchange: AbstractExchange,
    channel: AbstractChannel,
    event: SimEvent,
    *,
    source: str,
    attempts: int,
    confirm_timeout_s: float,
) -> None:
    message = amqp_message(event, source=source)
    for attempt in range(1, attempts + 1):
        try:
            # mandatory=False: with no hub queue bound yet, the broker may drop a message; a simulator
            # run should not fail for that.
            await exchange.publish(message, event.routing_key, mandatory=False, timeout=confirm_timeout_s)
            return
        except _RETRYABLE as exc:
            if attempt == attempts:
                raise
            log.warning("publish of event %s failed (%s), attempt %d/%d", event.event_id, exc, attempt, attempts)
            await asyncio.sleep(min(5.0, 0.2 * 2**attempt))
            ready = getattr(channel, "ready", None)
            if ready is not None:
                await asyncio.wait_for(ready(), confirm_timeout_s)


async def publish(
    events: Iterable[SimEvent],
    *,
    amqp_url: str,
    speed: float | None = None,
    source: str = DEFAULT_SOURCE,
    concurrency: int = 64,
    on_progress: Callable[[int], None] | None = None,
    attempts: int = 5,
    confirm_timeout_s: float = 30.0,
) -> int:
    """Publish events in their order and return how many the broker confirmed.

    `speed=None` publishes as fast as the broker confirms, with at most `concurrency` confirms in flight.
    `speed=N` replays N times faster than event time: an hour of traffic takes 3600/N seconds (timed from
    the first event, so sleeps do not add up to drift). `on_progress` gets the running count of confirmed
    messages after each confirm. A message that fails (connection lost, nack, no confirm within
    `confirm_timeout_s`) is retried up to `attempts` times; then `publish` stops and raises.
    Long because pacing, the in-flight window, confirms and retries share one loop's state; apart they would have to pass it around.
    """
    if speed is not None and speed <= 0:
        raise ValueError("speed must be > 0 (or None for as fast as possible)")
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    loop = asyncio.get_running_loop()
    connection = await amqp.connect_robust(amqp_url, "simulator")
    published = 0
    failures: list[BaseException] = []
    in_flight: set[asyncio.Task[None]] = set()
    slots = asyncio.Semaphore(concurrency)

    def done(task: asyncio.Task[None]) -> None:
        nonlocal published
        in_flight.discard(task)
        slots.release()
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            failures.append(error)
            return
        published += 1
        if on_progress is not None:
            on_progress(published)

    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await declare_city_events(channel)
        first_event: float | None = None
        first_wall = 0.0
        try:
            for event in events:
                if speed is not None:
                    moment = event.at.timestamp()
                    if first_event is None:
                        first_event, first_wall = moment, loop.time()
                    delay = first_wall + (moment - first_event) / speed - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await slots.acquire()
                if failures:
                    slots.release()
                    break
                sending = _publish_one(
                    exchange, channel, event, source=source, attempts=attempts, confirm_timeout_s=confirm_timeout_s
                )
                task = asyncio.create_task(sending)
                in_flight.add(task)
                task.add_done_callback(done)
            if in_flight:
                await asyncio.wait(set(in_flight))
        except BaseException:
            for task in in_flight:
                task.cancel()
            if in_flight:
                await asyncio.wait(set(in_flight))
            raise
    if failures:
        raise failures[0]
    return published

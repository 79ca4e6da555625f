"""The composition root: one function builds settings, database, broker, consumers and relay."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from faststream import FastStream
from faststream.rabbit import RabbitBroker
from faststream.specification import AsyncAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from consumers.router.handler import RoutingService
from consumers.router.rules import RuleSet
from consumers.router.subscriber import build_router
from contracts import WorkOrderIssued
from hub.calendar import CityCalendar
from hub.catalogue import Catalogue
from hub.settings import Settings
from infra.batcher import TransactionBatcher
from infra.consuming import DeliveryPolicy
from infra.db import create_engine, create_session_factory, upgrade_schema
from infra.relay import OutboxRelay
from infra.topology import CITY_EVENTS, declare_topology

CONSUMERS: tuple[str, ...] = ("router",)
VERSION = "0.1.0"


@dataclass(frozen=True)
class Domain:
    """The configuration the consumers decide with, validated at start-up."""

    catalogue: Catalogue
    calendar: CityCalendar
    rules: RuleSet

    @classmethod
    def load(cls, settings: Settings) -> Domain:
        catalogue = Catalogue.load(settings.categories_file, settings.assignees_file)
        calendar = CityCalendar.load(settings.calendar_file)
        rules = RuleSet.load(settings.rules_file, catalogue, calendar)
        return cls(catalogue=catalogue, calendar=calendar, rules=rules)


@dataclass
class Hub:
    settings: Settings
    domain: Domain
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    broker: RabbitBroker
    consumers: tuple[str, ...]
    relay: OutboxRelay | None
    batchers: dict[str, TransactionBatcher] = field(default_factory=dict)
    policies: dict[str, DeliveryPolicy] = field(default_factory=dict)

    async def prepare(self) -> None:
        """Schema and topology first, so that nothing is consumed into a missing table or queue."""
        await upgrade_schema(self.engine)
        await declare_topology(
            self.settings.amqp_url,
            consumers=self.consumers,
            assignees=list(self.domain.catalogue.assignees),
            retry_delay_ms=self.settings.retry_delay_ms,
            delivery_limit=self.settings.delivery_limit,
        )

    async def start(self) -> None:
        await self.prepare()
        if self.relay is not None:
            await self.relay.start()
        await self.broker.start()

    async def stop(self) -> None:
        """In-flight deliveries finish (broker graceful timeout), their batches commit, the relay drains."""
        with contextlib.suppress(Exception):
            await self.broker.stop()
        for batcher in self.batchers.values():
            await batcher.stop()
        if self.relay is not None:
            await self.relay.stop()
        await self.engine.dispose()


def build_hub(
    settings: Settings,
    *,
    consumers: Sequence[str] = CONSUMERS,
    with_relay: bool = True,
    domain: Domain | None = None,
) -> Hub:
    unknown = set(consumers) - set(CONSUMERS)
    if unknown:
        raise ValueError(f"unknown consumer(s) {sorted(unknown)}; known: {', '.join(CONSUMERS)}")
    domain = domain or Domain.load(settings)
    engine = create_engine(settings.database_url)
    sessions = create_session_factory(engine)
    broker = RabbitBroker(settings.amqp_url, graceful_timeout=settings.graceful_timeout_s, logger=None)
    relay = (
        OutboxRelay(
            sessions,
            settings.amqp_url,
            batch_size=settings.relay_batch_size,
            poll_interval_s=settings.relay_poll_interval_s,
        )
        if with_relay
        else None
    )
    hub = Hub(settings, domain, engine, sessions, broker, tuple(consumers), relay)

    for name in consumers:
        hub.batchers[name] = TransactionBatcher(
            name,
            sessions,
            max_size=settings.batch_max_size,
            max_wait_s=settings.batch_max_wait_ms / 1000,
            on_commit=relay.wake if relay is not None else None,
        )
        hub.policies[name] = DeliveryPolicy(
            name,
            broker,
            max_attempts=settings.max_attempts,
            max_transient_attempts=settings.max_transient_attempts,
        )

    if "router" in consumers:
        service = RoutingService(domain.catalogue, domain.rules, domain.calendar)
        broker.include_router(
            build_router(
                service=service,
                batcher=hub.batchers["router"],
                policy=hub.policies["router"],
                prefetch=settings.prefetch,
                delivery_limit=settings.delivery_limit,
            )
        )
    _document_outputs(broker)
    return hub


def _document_outputs(broker: RabbitBroker) -> None:
    """Publishers for the AsyncAPI document only: the outbox relay does the real publishing."""
    broker.publisher(
        "",
        CITY_EVENTS,
        routing_key="workorder.issued.{assignee}",
        schema=WorkOrderIssued,
        title="workorders.{assignee}:workorder.issued",
        description="One work order per (report, assignee), on the assignee's queue `workorders.<assignee>`.",
    )


def build_app(hub: Hub) -> FastStream:
    """A FastStream application around the hub: graceful shutdown on SIGTERM/SIGINT, AsyncAPI document."""
    app = FastStream(hub.broker, specification=asyncapi(hub.broker))

    @app.on_startup
    async def _prepare() -> None:
        await hub.prepare()

    @app.after_startup
    async def _start_relay() -> None:
        if hub.relay is not None:
            await hub.relay.start()

    @app.after_shutdown
    async def _drain() -> None:
        for batcher in hub.batchers.values():
            await batcher.stop()
        if hub.relay is not None:
            await hub.relay.stop()
        await hub.engine.dispose()

    return app


def asyncapi(broker: RabbitBroker) -> AsyncAPI:
    return AsyncAPI(
        broker,
        title="City contact hub",
        version=VERSION,
        description=(
            "Public message contract of the city contact hub. City systems publish `call.logged` and "
            "`report.filed` on the topic exchange `city.events`; assignees receive work orders on "
            "`workorders.<assignee>` and send `workorder.status` back. Metadata follows the CloudEvents AMQP binding."
        ),
        schema_version="3.0.0",
    )

"""The composition root: `build_hub` builds the domain, engine, sessions, broker, relay and every consumer's service.

Every entry point uses it: `hub run` (through `hub.app.build_app`), `hub serve` (`hub.http`), the commands that
write (`hub privacy`), the demo and the tests. A `Hub` has one lifecycle, in four steps that `Hub.start`/`Hub.stop`
(in-process: demo, tests) and the FastStream application's hooks (`hub run`) run in the same order:

  start:  schema and topology, then the relay (so the first commit's hand-off finds it), the broker (consuming),
          then the background jobs and workers and `/metrics`;
  stop:   background jobs first, the broker (in-flight deliveries finish), then the batchers commit what they hold,
          the relay drains, `/metrics` stops, the engine closes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from faststream.rabbit import RabbitBroker
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from consumers.console.accounts import Accounts
from consumers.console.auth import Authenticator
from consumers.contractors.deliveries import DeliveryConfig, DeliveryWorker
from consumers.contractors.links_http import link_signer
from consumers.contractors.scheduling import DeliveryService
from consumers.contractors.status import StatusService
from consumers.contractors.subscriber import build_deliveries_router, build_status_router
from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import Catalogue
from consumers.domain.places import PlaceFinder
from consumers.notifier.handler import NotifierService
from consumers.notifier.subscriber import build_router as build_notifier_router
from consumers.notifier.worker import NotifierConfig, NotifierWorker
from consumers.privacy.service import PrivacyService, RetentionJob
from consumers.router.handler import RoutingService
from consumers.router.incidents import IncidentFolding
from consumers.router.rules import RuleSet
from consumers.router.subscriber import build_router
from consumers.spikes.config import load_spike_config
from consumers.spikes.handler import SpikesService
from consumers.spikes.subscriber import build_router as build_spikes_router
from consumers.stats.handler import StatsService
from consumers.stats.subscriber import build_router as build_stats_router
from contracts import (
    IncidentOrderUpdated,
    ReporterDataErased,
    SpikeDetected,
    SpikeResolved,
    WorkOrderEscalated,
    WorkOrderIssued,
    WorkOrderStatusApplied,
)
from hub.settings import Settings
from hub.topology import CONSUMERS, hub_topology
from infra import amqp
from infra.batcher import TransactionBatcher
from infra.broker_admin import credentials_of
from infra.chat import ChatWebhookSender
from infra.consuming import DeliveryPolicy
from infra.db import create_engine, create_session_factory, upgrade_schema
from infra.inbox import InboxPruner
from infra.mailer import Mailer, SmtpSettings
from infra.metrics import HubMetrics
from infra.periodic import Background, Periodic
from infra.relay import OutboxRelay
from infra.topology import CITY_EVENTS, SPIKE_ROUTING_PATTERN, declare_topology


@dataclass(frozen=True)
class Domain:
    """The configuration the consumers decide with, validated at start-up."""

    catalogue: Catalogue
    calendar: CityCalendar
    rules: RuleSet
    places: PlaceFinder | None = None

    @classmethod
    def load(cls, settings: Settings) -> Domain:
        catalogue = Catalogue.load(settings.domain.categories_file, settings.domain.assignees_file)
        calendar = CityCalendar.load(settings.domain.calendar_file)
        rules = RuleSet.load(settings.router.rules_file, catalogue, calendar)
        places = PlaceFinder.load(settings.domain.boundaries_file, settings.domain.places_file)
        return cls(catalogue=catalogue, calendar=calendar, rules=rules, places=places)


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
    # Started after the broker, stopped first: periodic jobs and workers beside the consumers (contractors).
    background: list[Background] = field(default_factory=list)
    metrics: HubMetrics | None = None
    # /metrics is served by `hub run` only (build_hub(serve_metrics=True)), so in-process hubs never take the port.
    serve_metrics: bool = False

    async def prepare(self) -> None:
        """Schema and topology first, so that nothing is consumed into a missing table or queue."""
        await upgrade_schema(self.engine)
        await declare_topology(
            self.settings.amqp_url,
            hub_topology(self.consumers, self.domain.catalogue.assignees),
            retry_delay_ms=self.settings.consuming.retry_delay_ms,
            delivery_limit=self.settings.consuming.delivery_limit,
        )

    async def start(self) -> None:
        await self.start_before_broker()
        await self.broker.start()
        await self.start_after_broker()

    async def stop(self) -> None:
        """In-flight deliveries finish (broker graceful timeout), their batches commit, the relay drains."""
        await self.stop_before_broker()
        with contextlib.suppress(Exception):
            await self.broker.stop()
        await self.stop_after_broker()

    # The four steps, also the FastStream application's hooks (hub.app.build_app): one order for every entry point.

    async def start_before_broker(self) -> None:
        await self.prepare()
        if self.relay is not None:
            await self.relay.start()

    async def start_after_broker(self) -> None:
        for job in self.background:
            await job.start()
        if self.metrics is not None and self.serve_metrics:
            await self.metrics.start()

    async def stop_before_broker(self) -> None:
        for job in self.background:
            await job.stop()

    async def stop_after_broker(self) -> None:
        for batcher in self.batchers.values():
            await batcher.stop()
        if self.relay is not None:
            await self.relay.stop()
        if self.metrics is not None and self.serve_metrics:
            await self.metrics.stop()
        await self.engine.dispose()

    def batcher(self, name: str) -> TransactionBatcher:
        """The batcher of `name` (a consumer, or a writer beside them such as the HTTP status callback)."""
        if name not in self.batchers:
            settings = self.settings
            wait_ms = settings.stats.batch_max_wait_ms if name == "stats" else settings.consuming.batch_max_wait_ms
            self.batchers[name] = TransactionBatcher(
                name,
                self.sessions,
                max_size=settings.consuming.batch_max_size,
                max_wait_s=wait_ms / 1000,
                on_commit=self.relay.handoff if self.relay is not None else None,
            )
        return self.batchers[name]


def build_hub(
    settings: Settings,
    *,
    consumers: Sequence[str] = CONSUMERS,
    with_relay: bool = True,
    domain: Domain | None = None,
    serve_metrics: bool = False,
) -> Hub:
    """The one hub of `hub run`, `hub serve`, the CLI, the demo and the tests: settings, domain, engine,
    sessions, broker, relay and the services of the consumers asked for, each wired to its queue.

    Long because it is the composition root: one block per consumer, in the order they are started.
    """
    unknown = set(consumers) - set(CONSUMERS)
    if unknown:
        raise ValueError(f"unknown consumer(s) {sorted(unknown)}; known: {', '.join(CONSUMERS)}")
    domain = domain or Domain.load(settings)
    engine = create_engine(settings.database_url)
    sessions = create_session_factory(engine)
    broker = amqp.cluster_broker(settings.amqp_url, graceful_timeout=settings.consuming.graceful_timeout_s, logger=None)
    relay = (
        OutboxRelay(
            sessions,
            settings.amqp_url,
            batch_size=settings.relay.batch_size,
            poll_interval_s=settings.relay.poll_interval_s,
            sweep_after_s=settings.relay.sweep_after_s,
            urgent_prefixes=(SPIKE_ROUTING_PATTERN.removesuffix("*"),),  # alerts first: the router folds on them
        )
        if with_relay
        else None
    )
    hub = Hub(settings, domain, engine, sessions, broker, tuple(consumers), relay, serve_metrics=serve_metrics)

    for name in consumers:
        hub.batcher(name)
        hub.policies[name] = DeliveryPolicy(
            name,
            broker,
            max_attempts=settings.consuming.max_attempts,
            max_transient_attempts=settings.consuming.max_transient_attempts,
            hub_user=credentials_of(settings.amqp_url)[0],
        )

    if "router" in consumers:
        service = build_routing_service(hub)
        broker.include_router(
            build_router(
                service=service,
                **_delivery(hub, "router"),
            )
        )
        router_batcher = hub.batchers["router"]

        async def incident_updates() -> None:
            # A transaction of its own, no inbox entry (as the spikes timer); under the incident keys' locks, each
            # update once (its id), whatever the replicas.
            await router_batcher.run(service.tick)

        hub.background.append(Periodic("incident-updates", settings.router.incident_update_tick_s, incident_updates))
    if "stats" in consumers:
        broker.include_router(
            build_stats_router(
                service=StatsService(domain.calendar, places=domain.places),
                **_delivery(hub, "stats"),
            )
        )
    _build_contractors(hub)
    _build_spikes(hub)
    _build_operations(hub)
    _document_outputs(broker)
    return hub


def _mailer(settings: Settings) -> Mailer | None:
    """The SMTP sender for contractors' work orders and the communication team's alerts; none without a host."""
    if not settings.smtp.host:
        return None
    return Mailer(
        SmtpSettings(
            host=settings.smtp.host,
            port=settings.smtp.port,
            user=settings.smtp.user,
            password=settings.smtp.password.get_secret_value() if settings.smtp.password else None,
            starttls=settings.smtp.starttls,
            timeout_s=settings.smtp.timeout_s,
        )
    )


def _delivery(hub: Hub, name: str) -> dict[str, Any]:
    """What every consumer's router is built with: its batcher, its failure policy, prefetch and delivery limit."""
    return {
        "batcher": hub.batchers[name],
        "policy": hub.policies[name],
        "prefetch": hub.settings.consuming.prefetch,
        "delivery_limit": hub.settings.consuming.delivery_limit,
    }


def _build_contractors(hub: Hub) -> None:
    """Contractors: status back (with the escalation job) and webhook/e-mail deliveries (with the worker and the
    reminders job)."""
    settings, domain, broker = hub.settings, hub.domain, hub.broker
    if "status" in hub.consumers:
        status = build_status_service(hub)
        batcher = hub.batchers["status"]
        broker.include_router(
            build_status_router(
                service=status,
                **_delivery(hub, "status"),
            )
        )

        async def escalate() -> None:
            # The escalation rows' key makes each escalation once; the inbox id only has to be unique per scan.
            await batcher.submit(f"escalation-scan/{uuid.uuid4()}", status.escalate_overdue)

        hub.background.append(Periodic("escalations", settings.contractors.escalation_interval_s, escalate))
    if "deliveries" in hub.consumers:
        mailer = _mailer(settings)
        worker = DeliveryWorker(
            hub.sessions,
            domain.catalogue,
            DeliveryConfig(
                schedule_s=tuple(settings.contractors.delivery_schedule_s),
                concurrency=settings.contractors.delivery_concurrency,
                poll_interval_s=settings.contractors.delivery_poll_interval_s,
                failure_threshold=settings.contractors.circuit_failure_threshold,
                cooldown_s=settings.contractors.circuit_cooldown_s,
                webhook_secrets=settings.contractors.webhook_secrets,
                timeout_s=settings.contractors.webhook_timeout_s,
                smtp_from=settings.contractors.smtp_from,
                links=link_signer(settings.contractors),
            ),
            mailer=mailer,
        )
        deliveries = DeliveryService(domain.catalogue)
        broker.include_router(
            build_deliveries_router(
                service=deliveries,
                worker=worker,
                **_delivery(hub, "deliveries"),
            )
        )
        hub.background.append(worker)

        async def remind() -> None:
            # Before the escalation rules: the assignee itself hears of its open order on the due date, once (the
            # reminder row's id is the order's, inserted with insert-ignore, whatever the replicas).
            async with hub.sessions() as session, session.begin():
                added = await deliveries.remind_due(
                    session, hour=settings.contractors.reminder_hour, tz=domain.calendar.tz
                )
            if added:
                worker.wake()

        hub.background.append(Periodic("reminders", settings.contractors.reminder_interval_s, remind))


def build_routing_service(hub: Hub) -> RoutingService:
    """Routing, the same for the `hub.router` consumer and Open311's intake in `hub serve`."""
    domain = hub.domain
    folding = IncidentFolding(
        domain.catalogue,
        domain.calendar,
        places=domain.places,
        update_interval=dt.timedelta(minutes=hub.settings.router.incident_update_minutes),
    )
    return RoutingService(domain.catalogue, domain.rules, domain.calendar, places=domain.places, folding=folding)


def build_status_service(hub: Hub) -> StatusService:
    """Status back, the same for the `hub.status` consumer and the signed HTTP callback of `hub serve`."""
    settings = hub.settings
    own_user, _ = credentials_of(settings.amqp_url)
    return StatusService(
        hub.domain.catalogue,
        hub.domain.calendar,
        user_prefix=settings.contractors.contractor_user_prefix,
        trusted_users=frozenset({own_user, *settings.contractors.status_trusted_users}),
        hub_user=own_user,
    )


def build_console_auth(hub: Hub) -> Authenticator:
    """The console's access (users, sessions, tokens, the SSO header) for `hub serve`."""
    return Authenticator(Accounts(hub.sessions, hub.settings.auth), hub.settings.auth)


def build_privacy_service(hub: Hub) -> PrivacyService:
    """Erasure and retention, the same for the job beside the router and for `hub privacy`."""
    settings = hub.settings
    return PrivacyService(
        hub.sessions,
        amqp_url=settings.amqp_url,
        consumers=CONSUMERS,
        retention_days=settings.privacy.retention_days,
        batch_size=settings.privacy.batch_size,
        on_commit=hub.relay.handoff if hub.relay is not None else None,
    )


def _build_spikes(hub: Hub) -> None:
    """Spike detection (alerts out through the outbox) and the communication team's e-mail and chat deliveries."""
    if "spikes" in hub.consumers:
        _build_spikes_consumer(hub)
    if "notifier" in hub.consumers:
        _build_notifier(hub)
    _document_alert_publishers(hub.broker)


def _build_spikes_consumer(hub: Hub) -> None:
    """The `spikes` consumer and its timer (alerts whose incident went quiet, on event time)."""
    settings, domain, broker = hub.settings, hub.domain, hub.broker
    service = SpikesService(
        load_spike_config(settings.spikes.file, timezone=domain.calendar.timezone),
        domain.catalogue,
        domain.calendar,
        warmup=dt.timedelta(days=settings.spikes.warmup_days),
        max_future_skew=dt.timedelta(seconds=settings.spikes.max_future_skew_s),
        live_lag=dt.timedelta(seconds=settings.spikes.live_lag_s),
        places=domain.places,
    )
    broker.include_router(
        build_spikes_router(
            service=service,
            **_delivery(hub, "spikes"),
        )
    )
    batcher = hub.batchers["spikes"]

    async def spikes_timer() -> None:
        await service.tick(batcher)

    hub.background.append(Periodic("spikes-timer", settings.spikes.tick_s, spikes_timer))


def _build_notifier(hub: Hub) -> None:
    """The `notifier` consumer and its worker: alerts to the communication team by e-mail and chat."""
    settings, domain, broker = hub.settings, hub.domain, hub.broker
    mailer = _mailer(settings)
    chat = None
    if settings.notifier.webhook_url is not None:
        chat = ChatWebhookSender(
            settings.notifier.webhook_url.get_secret_value(), timeout_s=settings.notifier.timeout_s
        )
    worker = NotifierWorker(
        hub.sessions,
        NotifierConfig(
            schedule_s=tuple(settings.notifier.retry_schedule_s),
            email_to=tuple(settings.notifier.email_to),
            email_from=settings.notifier.email_from,
            timezone=domain.calendar.timezone,
            poll_interval_s=settings.notifier.poll_interval_s,
            chat_format=settings.notifier.webhook_format,
            console_url=settings.notifier.console_url,
        ),
        mailer=mailer,
        chat=chat,
    )
    broker.include_router(
        build_notifier_router(
            service=NotifierService(worker.channels),
            worker=worker,
            **_delivery(hub, "notifier"),
        )
    )
    hub.background.append(worker)


def _document_alert_publishers(broker: RabbitBroker) -> None:
    """Publishers for the AsyncAPI document only: the outbox relay publishes the alerts."""
    broker.publisher(
        "",
        CITY_EVENTS,
        routing_key=SpikeDetected.routing_key,
        schema=SpikeDetected,
        title="comms.alerts:spike.detected",
        description="An incident spike, once per incident (updates flagged), on the communication team's queue `comms.alerts`.",
    )
    broker.publisher(
        "",
        CITY_EVENTS,
        routing_key=SpikeResolved.routing_key,
        schema=SpikeResolved,
        title="comms.alerts:spike.resolved",
        description="An incident went quiet, once per incident, on the communication team's queue `comms.alerts`.",
    )


def _build_operations(hub: Hub) -> None:
    """Metrics (broker middlewares, relay counts) and the personal-data retention job beside the router."""
    settings, broker = hub.settings, hub.broker
    if settings.metrics.port:
        hub.metrics = HubMetrics(
            policies=hub.policies,
            relay=hub.relay,
            sessions=hub.sessions,
            assignees=list(hub.domain.catalogue.assignees),
            host=settings.metrics.host,
            port=settings.metrics.port,
            sample_interval_s=settings.metrics.sample_interval_s,
            faststream=settings.metrics.faststream,
            open_now=lambda: hub.domain.calendar.is_open(dt.datetime.now(dt.UTC)),
        )
        for middleware in hub.metrics.middlewares():
            broker.add_middleware(middleware)
    if hub.consumers:
        # Every consumer process prunes the inbox it writes; replicas skip each other's locked rows.
        pruner = InboxPruner(hub.sessions, retention_days=settings.consuming.inbox_retention_days)
        hub.background.append(Periodic("inbox-pruning", settings.consuming.inbox_prune_interval_s, pruner))
    if "router" in hub.consumers:
        # Beside the router, which stores the reports; replicas may each run it (the erasure's UPDATE guards).
        privacy = build_privacy_service(hub)
        hub.background.append(
            Periodic("privacy-retention", settings.privacy.retention_interval_s, RetentionJob(privacy))
        )
    broker.publisher(
        "",
        CITY_EVENTS,
        routing_key="workorder.reporter_erased.{assignee}",
        schema=ReporterDataErased,
        title="workorders.{assignee}:workorder.reporter_erased",
        description="The reporter's contact data was erased (on request or by retention): erase the copy this work order carried.",
    )


def _document_outputs(broker: RabbitBroker) -> None:
    """Publishers for the AsyncAPI document only: the outbox relay does the real publishing."""
    broker.publisher(
        "",
        CITY_EVENTS,
        routing_key=WorkOrderStatusApplied.routing_key,
        schema=WorkOrderStatusApplied,
        title="city.events:workorder.status.applied",
        description="Each status change the hub validated and applied (completion included), for statistics and spikes.",
    )
    broker.publisher(
        "",
        CITY_EVENTS,
        routing_key="workorder.escalated.{department}",
        schema=WorkOrderEscalated,
        title="workorders.{department}:workorder.escalated",
        description="A work order not acknowledged in time, on the responsible department's queue.",
    )
    broker.publisher(
        "",
        CITY_EVENTS,
        routing_key="workorder.issued.{assignee}",
        schema=WorkOrderIssued,
        title="workorders.{assignee}:workorder.issued",
        description="One work order per (report, assignee), on the assignee's queue `workorders.<assignee>`; while "
        "an incident is live, one incident order per (incident, assignee) instead (its `incident` set).",
    )
    broker.publisher(
        "",
        CITY_EVENTS,
        routing_key="workorder.updated.{assignee}",
        schema=IncidentOrderUpdated,
        title="workorders.{assignee}:workorder.updated",
        description="An incident order's update as addresses join (at most one per HUB_INCIDENT_UPDATE_MINUTES of "
        "event time, from the router's timer when no further report comes, a last one at the resolution), where the "
        "order went: queue, webhook or e-mail.",
    )

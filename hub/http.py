"""`hub serve`: the hub's HTTP side, one FastAPI app assembled from routers.

Each consumer's routes live in its folder (`consumers/<name>/http.py`, an `APIRouter`); the generic ones
(health, metrics, AsyncAPI, errors, security headers) in `infra/http`. This module only builds the services
once, `provide`s them, and includes the routers (docs/http.md: adding a router is two lines). Nothing here
writes to the database or the broker, except the contractors' signed status callback, which applies a status
change through the inbox like the `status` consumer, and Open311's `POST requests`, which files a report
through the outbox (consumers/open311).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from fastapi import Depends, FastAPI
from prometheus_client.core import Metric
from sqlalchemy.ext.asyncio import async_sessionmaker

from consumers.console import auth as console_auth
from consumers.console import comms as console_comms
from consumers.console import comms_silences as console_silences
from consumers.console import dashboard_http, management_http, ops_http
from consumers.console import http as console_http
from consumers.console.ops_http import Operations
from consumers.contractors import http as contractors_http
from consumers.contractors import links_http, page_http
from consumers.contractors.http import StatusCallbacks
from consumers.contractors.links_http import LinkAnswers, link_signer
from consumers.contractors.metrics import endpoint_metrics
from consumers.contractors.onbehalf import OnBehalf
from consumers.contractors.page_http import ContractorPages
from consumers.open311 import http as open311_http
from consumers.open311.http import Open311Api
from consumers.spikes.config import load_spike_config
from consumers.stats import http as stats_http
from consumers.stats.api import StatsApi
from hub.bootstrap import Hub
from hub.contracts_export import public_specification
from hub.settings import Settings
from infra.amqp import SharedConnection
from infra.http import asyncapi, openapi, operations
from infra.http.asyncapi import AsyncApiDocument
from infra.http.deps import provide
from infra.http.errors import install_error_handlers, responses
from infra.http.security import SecurityHeaders
from infra.metrics import ServeMetrics, hub_queue_names
from infra.topology import COMMS_ALERTS_QUEUE

TITLE = "City contact hub"
LINKS = {
    "live": "/health/live",
    "ready": "/health/ready",
    "asyncapi": "/asyncapi",
    "asyncapi_json": "/asyncapi.json",
    "dashboard": "/dashboard/",
    "stats_api": "/api/stats/summary",
    "openapi": "/api/openapi.json",
    "metrics": "/metrics",
    "open311_discovery": "/open311/v2/discovery.xml",
    "console": "/console/",
}


@dataclass
class _Served:
    """What `hub serve` builds once: the hub (domain, engine, sessions, relay) and the services of its routes."""

    hub: Hub
    broker: SharedConnection
    callbacks: StatusCallbacks
    open311: Open311Api
    queues: list[str]


def _build(settings: Settings) -> _Served:
    from hub.bootstrap import build_hub, build_routing_service, build_status_service
    from hub.topology import CONSUMERS

    # The composition root builds what serve needs, once: the domain, engine, sessions and relay, the callback's
    # status service and batcher (as the `hub.status` consumer's) and Open311's routing. No consumer runs here.
    hub = build_hub(settings, consumers=(), with_relay=True)
    broker = SharedConnection(settings.amqp_url, "serve")
    callbacks = StatusCallbacks(
        build_status_service(hub),
        hub.batcher(contractors_http.CONSUMER),
        broker,
        webhook_secrets=settings.contractors.webhook_secrets,
    )
    queues = hub_queue_names(CONSUMERS, hub.domain.catalogue.assignees, extra=[COMMS_ALERTS_QUEUE])
    # Open311: accepted requests go to the outbox in their own transaction and then to the hub's relay, which
    # Open311Api starts (without a broker the rows wait for any relay's sweep).
    open311 = Open311Api(
        settings.open311,
        build_routing_service(hub),
        hub.sessions,
        timezone=hub.domain.calendar.timezone,
        relay=hub.relay,
    )
    return _Served(hub, broker, callbacks, open311, queues)


def _lifespan(served: _Served) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    hub = served.hub

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await served.open311.start()
        yield
        await served.broker.close()
        if hub.relay is not None and not hub.relay.running:
            hub.relay = None  # never started (no broker): nothing to drain
        await hub.stop_after_broker()  # the callback's batcher commits, then the relay drains, the engine closes

    return lifespan


def create_http_app(settings: Settings) -> FastAPI:
    """`hub serve`'s app: every HTTP router of the consumers, with the services they depend on.

    Long because it is the HTTP side's composition root, read top to bottom: build the services once, provide
    each to the routes that ask for it by type, then include every router with its path beside it.
    """
    from hub.app import VERSION
    from hub.bootstrap import build_console_auth
    from hub.topology import CONSUMERS

    served = _build(settings)
    hub, broker, callbacks, open311 = served.hub, served.broker, served.callbacks, served.open311
    domain, engine, sessions = hub.domain, hub.engine, hub.sessions
    spec = public_specification(settings)

    async def endpoint_circuits() -> Sequence[Metric]:
        return await endpoint_metrics(sessions, failure_threshold=settings.contractors.circuit_failure_threshold)

    app = FastAPI(
        title=TITLE,
        version=VERSION,
        description="The hub's HTTP side: the statistics API and dashboard, the contractors' signed status "
        "callback, Open311 GeoReport v2, health probes, metrics and the AsyncAPI document of its messages.",
        license_info={"name": "EUPL-1.2", "identifier": "EUPL-1.2"},
        openapi_url="/api/openapi.json",
        docs_url=None,  # Swagger UI and ReDoc load from a CDN: the OpenAPI document is served, not a page.
        redoc_url=None,
        lifespan=_lifespan(served),
    )
    app.add_middleware(SecurityHeaders)
    install_error_handlers(app)
    console_auth.install(app)  # no session: a page redirects to /console/login, an API answers 401
    openapi.install(app)

    provide(app, engine)
    provide(app, sessions, as_type=async_sessionmaker)
    provide(app, broker)
    provide(app, ServeMetrics(broker.get, sessions, served.queues, samplers=[endpoint_circuits]))
    provide(app, AsyncApiDocument(title=spec.title, json=spec.to_json()))
    provide(app, callbacks)
    on_behalf = OnBehalf(callbacks.service, callbacks.batcher)
    provide(app, LinkAnswers(link_signer(settings.contractors), on_behalf, sessions, timezone=domain.calendar.tz))
    provide(app, ContractorPages(link_signer(settings.contractors), sessions, domain.catalogue, domain.calendar.tz))
    provide(app, open311)
    provide(app, build_console_auth(hub))
    provide(
        app,
        Operations(
            settings.amqp_url,
            tuple(CONSUMERS),
            domain.catalogue,
            domain.calendar.tz,
            webhook_secrets=dict(settings.contractors.webhook_secrets),
            smtp_host=settings.smtp.host,
            failure_threshold=settings.contractors.circuit_failure_threshold,
        ),
    )
    management = [Depends(console_auth.require_roles("management"))]
    stats_api = StatsApi(sessions=sessions, calendar=domain.calendar, catalogue=domain.catalogue)
    provide(app, stats_api)
    provide(
        app,
        console_comms.CommsConsole(
            sessions=sessions,
            config=load_spike_config(settings.spikes.file, timezone=domain.calendar.timezone),
            calendar=domain.calendar,
            catalogue=domain.catalogue,
            stats=stats_api,
            amqp_url=settings.amqp_url,
            contact_roles=frozenset(settings.auth.contact_roles),
        ),
    )

    app.include_router(operations.router)  # /health/live, /health/ready, /metrics
    app.include_router(asyncapi.router)  # /asyncapi, /asyncapi.json
    app.include_router(contractors_http.router)  # POST /contractors/{assignee}/workorder-status
    app.include_router(links_http.router)  # GET|POST /contractors/links/{token}: e-mail contractors' answers
    app.include_router(page_http.router)  # GET /contractors/ and /contractors/orders.csv: a contractor's own page
    # /api/stats/...: a session or an API token of a `management` user
    app.include_router(stats_http.router, dependencies=management, responses=responses(401, 403))
    app.include_router(open311_http.router)  # /open311/v2/... (Open311 GeoReport v2, docs/open311.md)
    app.include_router(dashboard_http.router)  # /dashboard/: the charts' page in the user's language; then its files
    app.mount("/dashboard", console_auth.protect(stats_http.dashboard_files(), "management"), name="dashboard")
    app.include_router(console_http.router)  # /console/: login, start page, language (consumers/console)
    app.include_router(console_comms.router)  # /console/comms/..., /console/agent/...: the team's and agents' pages
    app.include_router(console_silences.router)  # /console/comms/silences: the team's silences
    app.mount("/console/static", console_http.static_files(), name="console-static")
    app.include_router(ops_http.router)  # /console/ops/: dead letters, scheduled deliveries, the audit trail
    app.include_router(management_http.router)  # /console/management/: the dashboard, figures as CSV

    @app.get("/", summary="What this server offers", tags=["operations"])
    async def index() -> dict[str, object]:
        return {"service": "city contact hub", "links": LINKS}

    return app

"""`GET /metrics` of `hub serve`: queue depths and consumer counts of every hub queue, the outbox backlog, the
delivery endpoints' circuits, the build and the process.

Sampled at scrape time (see `infra.metrics.render_serve_metrics`): `hub serve` runs no consumer, so it is the one
place that sees the whole broker side, whichever consumers run where.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import Metric
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from consumers.contractors.metrics import endpoint_metrics
from hub.catalogue import Catalogue
from hub.settings import Settings
from infra.db import create_session_factory
from infra.metrics import hub_queue_names, render_serve_metrics
from infra.topology import COMMS_ALERTS_QUEUE


def metrics_route(settings: Settings, engine: AsyncEngine) -> Route:
    from hub.app import CONSUMERS

    catalogue = Catalogue.load(settings.categories_file, settings.assignees_file)
    queues = hub_queue_names(CONSUMERS, catalogue.assignees, extra=[COMMS_ALERTS_QUEUE])
    sessions = create_session_factory(engine)

    async def endpoints() -> Sequence[Metric]:
        return await endpoint_metrics(sessions, failure_threshold=settings.circuit_failure_threshold)

    async def metrics(_: Request) -> Response:
        body = await render_serve_metrics(settings.amqp_url, sessions, queues, samplers=[endpoints])
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", metrics)

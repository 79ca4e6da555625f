"""`hub serve`: the hub's read-only HTTP side: health probes and the AsyncAPI document.

The statistics API and dashboard mount here too. Nothing in it writes to the database or the broker, except
the contractors' signed status callback (`POST /contractors/{assignee}/workorder-status`, consumers/contractors/http.py),
which applies a status change through the inbox like the `status` consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aio_pika.abc import AbstractRobustConnection
from faststream.specification.asyncapi.site import get_asyncapi_html
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from consumers.contractors.http import StatusCallbacks
from consumers.stats import http as stats_http  # Statistics: /api/stats, /api/openapi.json, /dashboard
from hub.contracts_export import public_specification
from hub.metrics_http import metrics_route  # Operations: /metrics
from hub.settings import Settings
from infra import amqp
from infra.db import create_engine


@dataclass
class HttpState:
    settings: Settings
    engine: AsyncEngine
    broker: AbstractRobustConnection | None = None


def create_http_app(settings: Settings) -> Starlette:
    spec = public_specification(settings)
    spec_json = spec.to_json()
    state = HttpState(settings=settings, engine=create_engine(settings.database_url, pool_size=5))
    callbacks = StatusCallbacks(settings, state.engine)

    async def live(_: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def ready(_: Request) -> Response:
        checks = {"database": await _database_ok(state.engine), "broker": await _broker_ok(state)}
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503
        )

    async def asyncapi_json(_: Request) -> Response:
        return Response(spec_json, media_type="application/json")

    async def asyncapi_html(_: Request) -> Response:
        return HTMLResponse(get_asyncapi_html(spec, try_it_out_path=None))

    async def index(_: Request) -> Response:
        return JSONResponse(
            {
                "service": "city contact hub",
                "links": {
                    "live": "/health/live",
                    "ready": "/health/ready",
                    "asyncapi": "/asyncapi",
                    "asyncapi_json": "/asyncapi.json",
                    "dashboard": "/dashboard/",
                    "stats_api": "/api/stats/summary",
                    "openapi": "/api/openapi.json",
                    "metrics": "/metrics",
                },
            }
        )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await callbacks.aclose()
        if state.broker is not None:
            await state.broker.close()
        await state.engine.dispose()

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/health/live", live),
            Route("/health/ready", ready),
            Route("/asyncapi.json", asyncapi_json),
            Route("/asyncapi", asyncapi_html),
            *callbacks.routes,
            # Statistics: the read-only JSON API, its OpenAPI document, the dashboard.
            *stats_http.routes(state.engine, settings),
            metrics_route(settings, state.engine),  # queue depths, consumers, outbox backlog
        ],
        lifespan=lifespan,
    )
    app.state.hub = state
    return app


async def _database_ok(engine: AsyncEngine) -> bool:
    try:
        async with asyncio.timeout(3), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


async def _broker_ok(state: HttpState) -> bool:
    try:
        async with asyncio.timeout(3):
            if state.broker is None or state.broker.is_closed:
                state.broker = await amqp.connect_robust(state.settings.amqp_url, "http")
            channel = await state.broker.channel()
            await channel.close()
    except Exception:
        return False
    return True

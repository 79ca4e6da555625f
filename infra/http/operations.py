"""Operations routes of `hub serve`: liveness, readiness (database and broker), and `/metrics`."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.amqp import SharedConnection
from infra.http.deps import Engine, service
from infra.metrics import ServeMetrics

Broker = Annotated[SharedConnection, Depends(service(SharedConnection))]
Metrics = Annotated[ServeMetrics, Depends(service(ServeMetrics))]

router = APIRouter(tags=["operations"])


class Live(BaseModel):
    status: Literal["alive"] = "alive"


class Checks(BaseModel):
    database: bool
    broker: bool


class Ready(BaseModel):
    status: Literal["ready", "not ready"]
    checks: Checks


@router.get("/health/live", summary="The process answers")
async def live() -> Live:
    return Live()


@router.get(
    "/health/ready",
    summary="The database and the broker answer",
    response_model=Ready,
    responses={503: {"model": Ready, "description": "The database or the broker does not answer"}},
)
async def ready(engine: Engine, broker: Broker) -> JSONResponse:
    database_ok, broker_ok = await asyncio.gather(_database_ok(engine), _broker_ok(broker))
    answer = Ready(
        status="ready" if database_ok and broker_ok else "not ready",
        checks=Checks(database=database_ok, broker=broker_ok),
    )
    return JSONResponse(answer.model_dump(), status_code=200 if answer.status == "ready" else 503)


@router.get(
    "/metrics",
    summary="Queue depths, consumer counts and the outbox backlog (Prometheus text format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(sampler: Metrics) -> Response:
    return Response(await sampler.render(), media_type=CONTENT_TYPE_LATEST)


async def _database_ok(engine: AsyncEngine) -> bool:
    try:
        async with asyncio.timeout(3), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


async def _broker_ok(broker: SharedConnection) -> bool:
    try:
        async with asyncio.timeout(3):
            channel = await (await broker.get()).channel()
            await channel.close()
    except Exception:
        return False
    return True

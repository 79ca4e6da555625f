"""`hub serve`: health probes answer for the real database and broker, and say so when one is missing."""

from __future__ import annotations

import httpx
import pytest

from hub.http import create_http_app
from hub.settings import Settings

pytestmark = pytest.mark.integration


async def _get(settings: Settings, path: str) -> httpx.Response:
    app = create_http_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            return await client.get(path)


async def test_ready_when_database_and_broker_answer(amqp_url: str, postgres_url: str) -> None:
    response = await _get(Settings(amqp_url=amqp_url, database_url=postgres_url), "/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": True, "broker": True}


async def test_not_ready_when_the_broker_is_unreachable(postgres_url: str) -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    response = await _get(
        Settings(amqp_url="amqp://guest:guest@127.0.0.1:1/", database_url=postgres_url), "/health/ready"
    )
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "broker": False}


async def test_live_and_asyncapi(amqp_url: str, sqlite_url: str) -> None:
    settings = Settings(amqp_url=amqp_url, database_url=sqlite_url)
    assert (await _get(settings, "/health/live")).status_code == 200
    spec = (await _get(settings, "/asyncapi.json")).json()
    assert spec["asyncapi"] == "3.0.0"
    assert "ReportFiled" in spec["components"]["schemas"]
    assert "AsyncApiStandalone" in (await _get(settings, "/asyncapi")).text

"""`hub serve`: health probes answer for the real database and broker, and say so when one is missing; every
answer carries the security headers; `/metrics` reuses one broker connection; `/asyncapi` needs no CDN."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from hub.http import create_http_app
from hub.settings import Settings
from tests.console_support import add_user, sign_in

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_http_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield client


async def _get(settings: Settings, path: str) -> httpx.Response:
    async with serving(settings) as client:
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


async def test_live_and_asyncapi_offline(amqp_url: str, sqlite_url: str) -> None:
    settings = Settings(amqp_url=amqp_url, database_url=sqlite_url)
    async with serving(settings) as client:
        assert (await client.get("/health/live")).status_code == 200
        spec = (await client.get("/asyncapi.json")).json()
        assert spec["asyncapi"] == "3.0.0"
        assert "ReportFiled" in spec["components"]["schemas"]
        page = (await client.get("/asyncapi")).text
        # Every script and style the page loads comes from the hub itself, and is there.
        assets = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert len(assets) >= 4, assets
        for url in assets:
            if url.startswith("data:"):
                continue
            assert not urlsplit(url).netloc, url
            assert (await client.get(url)).status_code == 200, url
        bundle = await client.get("/asyncapi/assets/standalone.js")
        assert "AsyncApiStandalone" in bundle.text
        assert bundle.headers["content-type"].startswith("text/javascript")
        assert (await client.get("/asyncapi/assets/../../settings.py")).status_code == 404


async def test_every_kind_of_answer_carries_the_security_headers(sqlite_url: str) -> None:
    settings = Settings(amqp_url="amqp://guest:guest@127.0.0.1:1/", database_url=sqlite_url)
    kinds = {
        "/": "application/json",
        "/health/live": "application/json",
        "/api/stats/summary?year=2021": "application/json",
        "/api/stats/summary?yaer=2021": "application/json",  # a 422
        "/api/stats/incidents/nothing/timeline": "application/json",  # a 404
        "/no/such/page": "application/json",  # the framework's own 404
        "/api/openapi.json": "application/json",
        "/asyncapi.json": "application/json",
        "/asyncapi": "text/html",
        "/dashboard/": "text/html",
        "/dashboard/app.js": "text/javascript",
        "/metrics": "text/plain",
        "/console/": "text/html",
        "/console/static/console.css": "text/css",
    }
    await add_user(sqlite_url)
    async with serving(settings) as client:
        await sign_in(client)  # the statistics and the dashboard are for signed-in `management` users
        callback = await client.post("/contractors/nobody/workorder-status", content=b"{}")
        assert callback.status_code == 401
        for path, media in kinds.items():
            response = await client.get(path)
            assert response.headers["content-type"].startswith(media), (path, response.headers["content-type"])
            for answer in (response, callback):
                headers = answer.headers
                policy = headers["content-security-policy"]
                assert "frame-ancestors 'none'" in policy, path
                assert "default-src 'self'" in policy, path
                # No external source: every source is a keyword ('self', 'none', ...) or data: for images.
                sources = {s for directive in policy.split(";") for s in directive.split()[1:]}
                assert all(s.startswith("'") or s == "data:" for s in sources), (path, sources)
                assert "'unsafe-inline'" not in policy, path
                assert headers["x-content-type-options"] == "nosniff", path
                assert headers["x-frame-options"] == "DENY", path
                # The console's pages (the dashboard's too) say same-origin, so that their forms carry their Origin
                # (consumers/console/templates.py).
                assert headers["referrer-policy"] == (
                    "same-origin" if path in ("/console/", "/dashboard/") and answer is response else "no-referrer"
                ), path


async def _hub_serve_connections(management: httpx.AsyncClient, vhost: str) -> list[dict[str, object]]:

    connections = (await management.get("/api/connections", params={"columns": "name,vhost,client_properties"})).json()
    return [
        c
        for c in connections
        if c["vhost"] == vhost and c.get("client_properties", {}).get("connection_name") == "hub-serve"
    ]


async def test_metrics_scrapes_share_one_broker_connection(amqp_url: str, sqlite_url: str) -> None:
    """100 concurrent scrapes, then as many after the sample has aged: one connection of `hub serve` all along."""
    vhost = unquote(urlsplit(amqp_url).path[1:])
    async with (
        serving(Settings(amqp_url=amqp_url, database_url=sqlite_url)) as client,
        httpx.AsyncClient(base_url="http://127.0.0.1:15672", auth=("guest", "guest"), timeout=10) as management,
    ):
        seen: list[int] = []
        for _ in range(2):
            answers = await asyncio.gather(*(client.get("/metrics") for _ in range(100)))
            assert all(a.status_code == 200 for a in answers)
            assert all("hub_broker_up 1.0" in a.text for a in answers)
            await asyncio.sleep(2.5)  # the sample ages: the next burst samples anew, over the same connection
        # The management API lists a connection a moment after it opened: wait until it shows.
        for _ in range(50):
            found = await _hub_serve_connections(management, vhost)
            seen.append(len(found))
            if found:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)
        assert len(await _hub_serve_connections(management, vhost)) == 1, seen

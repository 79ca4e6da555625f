"""The console's access, in-process over a real database: what needs a session or a token, CSRF on forms, session
expiry (absolute and idle) and its end on disable, the login throttle per user and per address (in the database,
so two apps agree), the audit rows, API tokens on /api/stats, the trusted SSO header only from its proxies."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from consumers.console.accounts import Accounts
from consumers.console.settings import AuthSettings
from consumers.console.tables import ConsoleAudit, ConsoleLoginFailure, ConsoleSession
from hub.http import create_http_app
from hub.settings import Settings
from infra.db import create_engine, create_session_factory
from tests.console_support import PASSWORD, add_token, add_user, csrf_of, sign_in

pytestmark = pytest.mark.integration

NO_BROKER = "amqp://guest:guest@127.0.0.1:1/"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@contextlib.asynccontextmanager
async def serving(
    database_url: str, clock: Clock | None = None, client_address: str = "127.0.0.1", **auth: Any
) -> AsyncIterator[httpx.AsyncClient]:
    from consumers.console.auth import Authenticator
    from infra.http.deps import provided

    settings = Settings(database_url=database_url, amqp_url=NO_BROKER, auth=auth)
    app = create_http_app(settings)
    if clock is not None:
        provided(app, Authenticator).accounts.clock = clock
    transport = httpx.ASGITransport(app=app, client=(client_address, 4711))
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
        yield c


async def rows(database_url: str, statement: Any) -> list[Any]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(statement))
    finally:
        await engine.dispose()


async def test_without_a_session_pages_redirect_to_login_and_the_api_answers_401(postgres_url: str) -> None:
    async with serving(postgres_url) as client:
        for path in ("/console/", "/dashboard/", "/console/ops/", "/console/management/"):
            answer = await client.get(path, headers={"accept": "text/html"})
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/console/login?next=%2F"), path
        api = await client.get("/api/stats/summary")
        assert api.status_code == 401
        assert api.headers["www-authenticate"].startswith("Bearer")
        # What stays open: health, the signed links and Open311 answer as before.
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/open311/v2/services.json")).status_code == 200
        assert (await client.get("/contractors/links/not-a-token")).status_code in (400, 403, 404)


async def test_an_api_token_reads_the_statistics_and_a_revoked_one_does_not(postgres_url: str) -> None:
    token = await add_token(postgres_url, "powerbi", ("management",))
    other = await add_token(postgres_url, "agents-wall", ("agent",))
    async with serving(postgres_url) as client:
        ok = await client.get("/api/stats/meta", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200, ok.text
        refused = await client.get("/api/stats/meta", headers={"Authorization": f"Bearer {other}"})
        assert refused.status_code == 403
        wrong = await client.get("/api/stats/meta", headers={"Authorization": f"Bearer {token}x"})
        assert wrong.status_code == 401
        # A token is for the API only: not a page.
        page = await client.get("/console/", headers={"Authorization": f"Bearer {token}"})
        assert page.status_code == 303
        engine = create_engine(postgres_url)
        try:
            await Accounts(create_session_factory(engine), AuthSettings()).revoke_token("powerbi")
        finally:
            await engine.dispose()
        gone = await client.get("/api/stats/meta", headers={"Authorization": f"Bearer {token}"})
        assert gone.status_code == 401


async def test_a_form_without_its_csrf_token_or_from_elsewhere_is_refused(postgres_url: str) -> None:
    await add_user(postgres_url, "an", ("comms",))
    async with serving(postgres_url) as client:
        form = await client.get("/console/login")
        token = csrf_of(form.text)
        # The login form itself: no token, a wrong one, another site's origin.
        for data, headers in (
            ({"name": "an", "password": PASSWORD}, {}),
            ({"name": "an", "password": PASSWORD, "csrf": token + "x"}, {}),
            ({"name": "an", "password": PASSWORD, "csrf": token}, {"origin": "https://elsewhere.example"}),
        ):
            refused = await client.post("/console/login", data=data, headers=headers)
            assert refused.status_code == 403, data
            assert "hub_session" not in refused.headers.get("set-cookie", "")
        await sign_in(client, "an")
        home = await client.get("/console/")
        assert home.status_code == 200
        # A signed-in form (the language) without the session's token changes nothing.
        refused = await client.post("/console/language", data={"language": "fr", "csrf": token})
        assert refused.status_code == 403
        assert 'lang="nl"' in (await client.get("/console/")).text
        done = await client.post("/console/language", data={"language": "fr", "csrf": csrf_of(home.text)})
        assert done.status_code == 303
        assert 'lang="fr"' in (await client.get("/console/")).text


async def test_a_session_ends_when_it_expires_idles_or_its_user_is_disabled(postgres_url: str) -> None:
    await add_user(postgres_url, "an", ("ops",))
    clock = Clock()
    async with serving(postgres_url, clock, session_hours=2, idle_minutes=30) as client:
        await sign_in(client, "an")
        for _ in range(4):  # active every 25 minutes: idle never reached ...
            clock.now += dt.timedelta(minutes=25)
            assert (await client.get("/console/")).status_code == 200
        clock.now += dt.timedelta(minutes=21)  # ... but 2 h after login it ends (21 min after the last request)
        assert (await client.get("/console/")).status_code == 303
        assert not await rows(postgres_url, select(ConsoleSession.id_hash))

        await sign_in(client, "an")
        clock.now += dt.timedelta(minutes=31)  # idle
        assert (await client.get("/console/")).status_code == 303

        await sign_in(client, "an")
        assert (await client.get("/console/")).status_code == 200
        engine = create_engine(postgres_url)
        try:
            assert await Accounts(create_session_factory(engine), AuthSettings()).disable("an") == 1
        finally:
            await engine.dispose()
        assert (await client.get("/console/")).status_code == 303


async def test_logins_are_throttled_per_user_and_per_address_across_apps(postgres_url: str) -> None:
    await add_user(postgres_url, "an", ("comms",))
    await add_user(postgres_url, "bert", ("comms",))

    async def attempt(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
        form = await client.get("/console/login")
        return await client.post(
            "/console/login", data={"csrf": csrf_of(form.text), "name": name, "password": password}
        )

    settings = {"throttle_user_failures": 3, "throttle_address_failures": 4}
    async with (
        serving(postgres_url, client_address="10.0.0.1", **settings) as first,
        serving(postgres_url, client_address="10.0.0.2", **settings) as second,
    ):
        # Two replicas, two addresses, one user: the third failure anywhere locks the name.
        assert (await attempt(first, "an", "wrong-1-password")).status_code == 401
        assert (await attempt(second, "an", "wrong-2-password")).status_code == 401
        assert (await attempt(first, "an", "wrong-3-password")).status_code == 401
        locked = await attempt(second, "an", PASSWORD)  # even the right password, until the window passes
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) > 0
        assert 'data-error="login.throttled"' in locked.text
        # The address: two more failures from 10.0.0.1 (4 in all from there) lock every name tried from it.
        assert (await attempt(first, "bert", "wrong-4-password")).status_code == 401
        assert (await attempt(first, "carla", "wrong-5-password")).status_code == 401
        assert (await attempt(first, "bert", PASSWORD)).status_code == 429
        # bert from elsewhere is fine.
        assert (await attempt(second, "bert", PASSWORD)).status_code == 303
    failures = await rows(postgres_url, select(func.count()).select_from(ConsoleLoginFailure))
    assert failures[0][0] == 4  # bert's own went with his login


async def test_the_audit_trail_records_logins_refusals_and_logouts(postgres_url: str) -> None:
    await add_user(postgres_url, "an", ("comms",))
    async with serving(postgres_url) as client:
        form = await client.get("/console/login")
        await client.post(
            "/console/login", data={"csrf": csrf_of(form.text), "name": "an", "password": "not it at all"}
        )
        await sign_in(client, "an")
        home = await client.get("/console/")
        out = await client.post("/console/logout", data={"csrf": csrf_of(home.text)})
        assert out.status_code == 303
        assert (await client.get("/console/")).status_code == 303
    trail = await rows(
        postgres_url, select(ConsoleAudit.actor, ConsoleAudit.action, ConsoleAudit.address).order_by(ConsoleAudit.id)
    )
    assert [(a, b) for a, b, _ in trail] == [
        ("tests", "user.add"),
        ("an", "login.refused"),
        ("an", "login"),
        ("an", "logout"),
    ]
    assert trail[1][2] == "127.0.0.1"
    # Nothing of the password anywhere in the trail.
    assert all(PASSWORD not in str(row) for row in trail)


async def test_the_trusted_header_is_believed_only_from_the_configured_proxies(postgres_url: str) -> None:
    await add_user(postgres_url, "an", ("management",), password=None)
    header = {"X-Remote-User": "an", "accept": "text/html"}
    sso = {"trusted_header": "X-Remote-User", "trusted_proxies": "10.1.0.0/16"}
    async with serving(postgres_url, client_address="10.1.2.3", **sso) as proxy:
        assert (await proxy.get("/console/", headers=header)).status_code == 200
        assert (await proxy.get("/api/stats/meta", headers=header)).status_code == 200
        unknown = await proxy.get("/console/", headers={**header, "X-Remote-User": "nobody"})
        assert unknown.status_code == 303
    async with serving(postgres_url, client_address="192.168.9.9", **sso) as direct:
        assert (await direct.get("/console/", headers=header)).status_code == 303
    async with serving(postgres_url, client_address="10.1.2.3") as off:  # the default: no header mode
        assert (await off.get("/console/", headers=header)).status_code == 303


async def test_a_csv_export_holds_the_apis_figures_and_the_audit_page_is_for_ops(postgres_url: str) -> None:
    import csv
    import io

    from tests.stats_dashboard_support import build_week, fill

    await fill(postgres_url, build_week())
    await add_user(postgres_url, "mia", ("management",))
    await add_user(postgres_url, "olaf", ("ops",))
    token = await add_token(postgres_url, "bi", ("management",))
    async with serving(postgres_url) as client:
        await sign_in(client, "mia")
        for figure, api, key in (
            ("reports", "/api/stats/reports?year=2021&by=district", "rows"),
            ("hours", "/api/stats/calls/hours?year=2021", "hours"),
        ):
            query = api.split("?", 1)[1]
            exported = await client.get(f"/console/management/export/{figure}.csv?{query}")
            assert exported.status_code == 200, exported.text
            assert exported.headers["content-type"].startswith("text/csv")
            rows = list(csv.DictReader(io.StringIO(exported.text)))
            answer = (await client.get(api, headers={"Authorization": f"Bearer {token}"})).json()[key]
            assert len(rows) == len(answer) > 0
            for row, item in zip(rows, answer, strict=True):
                assert {k: str(v) for k, v in item.items() if v is not None and not isinstance(v, dict)} == {
                    k: v for k, v in row.items() if v != ""
                }
        refused = await client.get("/console/ops/audit")
        assert refused.status_code == 403
        assert 'data-refused="ops"' in refused.text
    async with serving(postgres_url) as client:
        await sign_in(client, "olaf")
        page = await client.get("/console/ops/audit")
        assert page.status_code == 200
        assert 'data-action="login" data-actor="mia"' in page.text
        assert 'data-action="login" data-actor="olaf"' in page.text

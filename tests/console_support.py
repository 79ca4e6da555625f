"""Signing in to the console in tests: a user or an API token in the test's database, a signed-in httpx client, a
signed-in Chromium page (Playwright). Every path goes through the real login form (CSRF token included)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import httpx

from consumers.console.accounts import Accounts
from consumers.console.settings import AuthSettings
from infra.db import create_engine, create_session_factory

PASSWORD = "een lang testwachtwoord"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def add_user(
    database_url: str,
    name: str = "manager",
    roles: Sequence[str] = ("management",),
    password: str | None = PASSWORD,
    *,
    language: str = "nl",
) -> None:
    """A console user in the (migrated) database (one already there with this name is kept)."""
    engine = create_engine(database_url)
    try:
        accounts = Accounts(create_session_factory(engine), AuthSettings())
        if all(u.name != name for u in await accounts.users()):
            await accounts.add_user(name, roles, password, language=language, actor="tests")
    finally:
        await engine.dispose()


async def add_token(database_url: str, name: str = "tests", roles: Sequence[str] = ("management",)) -> str:
    engine = create_engine(database_url)
    try:
        return await Accounts(create_session_factory(engine), AuthSettings()).add_token(name, roles, actor="tests")
    finally:
        await engine.dispose()


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, name: str = "manager", password: str = PASSWORD) -> None:
    """Sign `client` in through the login form; its cookie jar keeps the session."""
    form = await client.get("/console/login")
    assert form.status_code == 200, form.text[:300]
    answer = await client.post(
        "/console/login", data={"csrf": csrf_of(form.text), "name": name, "password": password, "next": "/console/"}
    )
    assert answer.status_code == 303, f"login of {name}: {answer.status_code} {answer.text[:300]}"


async def sign_in_page(page: Any, base: str, name: str = "manager", password: str = PASSWORD) -> None:
    """Sign a Playwright page in through the login form (it lands on the console's start page)."""
    await page.goto(f"{base}/console/login")
    await page.fill('input[name="name"]', name)
    await page.fill('input[name="password"]', password)
    async with page.expect_navigation():
        await page.click('button[type="submit"]')
    assert "/console/login" not in page.url, await page.content()

"""Unit-test fixtures: a handler environment on in-memory SQLite (no services)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.handler_env import HandlerEnv


@pytest_asyncio.fixture
async def handler_env() -> AsyncIterator[HandlerEnv]:
    env = await HandlerEnv.create()
    yield env
    await env.close()

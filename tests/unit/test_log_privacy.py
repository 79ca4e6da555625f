"""A failed statement's parameters (a reporter's contact data) never reach a log line."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from fastapi import HTTPException
from sqlalchemy.exc import DBAPIError

from infra.http import deps
from infra.periodic import Periodic

pytestmark = pytest.mark.unit

EMAIL = "an.peeters@example.be"


def _failed_insert() -> DBAPIError:
    return DBAPIError("INSERT INTO reports (reporter_email) VALUES ($1)", (EMAIL,), ConnectionError("server closed"))


class _Sessions:
    def __call__(self) -> _Sessions:
        return self

    async def __aenter__(self) -> _Sessions:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_an_http_request_whose_statement_fails_logs_no_contact_data(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    session: Any = deps._session(_Sessions())  # type: ignore[arg-type]
    await session.__anext__()
    with pytest.raises(HTTPException) as raised:
        await session.athrow(_failed_insert())
    assert raised.value.status_code == 503
    assert "database unavailable" in caplog.text
    assert EMAIL not in caplog.text


async def test_a_periodic_job_whose_statement_fails_logs_no_contact_data(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def job() -> None:
        raise _failed_insert()

    periodic = Periodic("retention", 60, job)
    await periodic.start()
    await asyncio.sleep(0.05)
    await periodic.stop()
    assert "periodic retention failed" in caplog.text
    assert EMAIL not in caplog.text

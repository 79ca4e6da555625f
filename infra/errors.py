"""How the hub classifies failures: permanent (dead-letter now), transient (retry later), or unexpected."""

from __future__ import annotations

import asyncio
import json

from pydantic import ValidationError
from sqlalchemy import exc as sa_exc

from infra.cloudevents import MissingMessageId


class PermanentError(Exception):
    """The message can never be applied (e.g. an impossible status change); it goes to the dead-letter queue."""


class TransientError(Exception):
    """A dependency is unavailable; the delivery comes back after a delay."""


PERMANENT: tuple[type[BaseException], ...] = (
    PermanentError,
    ValidationError,
    json.JSONDecodeError,
    UnicodeDecodeError,
    MissingMessageId,
)


def is_permanent(exc: BaseException) -> bool:
    return isinstance(exc, PERMANENT)


def is_transient(exc: BaseException) -> bool:
    """Database or broker unreachable, a deadlock or a serialization failure: worth trying again later."""
    if isinstance(exc, TransientError | ConnectionError | TimeoutError | asyncio.TimeoutError | OSError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            return True
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        # 08* connection, 53* insufficient resources, 57P* shutdown / starting up, 40001 serialization
        # failure, 40P01 deadlock.
        if isinstance(code, str) and (code in {"40001", "40P01"} or code.startswith(("08", "53", "57P"))):
            return True
        text = str(exc.orig).lower()
        return "not currently accepting connections" in text or (
            "connection" in text and ("closed" in text or "refused" in text or "lost" in text)
        )
    if isinstance(exc, sa_exc.TimeoutError):  # the pool waited too long for a connection
        return True
    module = type(exc).__module__
    # asyncpg's connection errors and aio-pika/aiormq channel and connection errors.
    return (
        module.startswith(("asyncpg", "aiormq", "aio_pika", "pamqp"))
        and "Error" in type(exc).__name__
        and not ("Unique" in type(exc).__name__ or "DataError" in type(exc).__name__)
    )


def describe(exc: BaseException, limit: int = 900) -> str:
    """A reason fit for a header and a log line: never the offending input (it may hold personal data)."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors(include_input=False, include_url=False, include_context=False):
            loc = ".".join(str(p) for p in err.get("loc", ())) or "(body)"
            parts.append(f"{loc}: {err.get('msg')}")
        text = f"schema violation ({exc.title}): " + "; ".join(parts)
    elif isinstance(exc, json.JSONDecodeError):
        text = f"broken JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    elif isinstance(exc, sa_exc.DBAPIError):
        text = f"{type(exc.orig).__name__ if exc.orig else type(exc).__name__}: database error"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 1] + "…"

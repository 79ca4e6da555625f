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
    # Deterministic in the input, so no retry can help: JSON nested deeper than the parser goes, and a time
    # stamp (year 1 or 9999 with an offset) or a number that does not fit the types it must be converted to.
    RecursionError,
    OverflowError,
)


def _sqlstate(exc: sa_exc.DBAPIError) -> str | None:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code if isinstance(code, str) else None


def is_permanent(exc: BaseException) -> bool:
    if isinstance(exc, PERMANENT):
        return True
    # SQLSTATE class 22, data exception: the database refuses the value itself (a NUL byte in a text, a date out
    # of its range, a number too large), the same on every attempt.
    return isinstance(exc, sa_exc.DBAPIError) and (_sqlstate(exc) or "").startswith("22")


def is_transient(exc: BaseException) -> bool:
    """Database or broker unreachable, a deadlock or a serialization failure: worth trying again later."""
    if isinstance(exc, TransientError | ConnectionError | TimeoutError | asyncio.TimeoutError | OSError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            return True
        code = _sqlstate(exc)
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
    elif isinstance(exc, RecursionError):
        text = "JSON nested too deeply: deeper than the parser's limit"
    elif isinstance(exc, OverflowError):
        text = f"date, time or number out of range ({exc})"
    elif isinstance(exc, sa_exc.DBAPIError):
        code = _sqlstate(exc)
        name = type(exc.orig).__name__ if exc.orig else type(exc).__name__
        if code in ("22021", "22P05"):
            # 22021: a NUL byte in a text; 22P05: `\u0000` in JSON. PostgreSQL stores neither.
            text = f"{name}: a text contains a NUL byte (U+0000), which the database cannot store"
        elif code is not None and code.startswith("22"):
            text = f"{name}: a value the database refuses (SQLSTATE {code})"
        else:
            text = f"{name}: database error"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 1] + "…"

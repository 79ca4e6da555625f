"""Expected failures of a `hub` command: one clear line on stderr and a documented exit code, never a traceback.

| code | meaning |
| ---: | --- |
| 0 | done |
| 1 | the command ran and refused or failed (its message says why) |
| 2 | usage: an unknown command, option or name (a consumer, a file format) |
| 3 | settings: a `HUB_*` variable (or `.env` entry) the hub cannot use; the message names it and what it takes |
| 4 | a file named on the command line or in the settings is missing or unreadable |
| 5 | RabbitMQ or the database does not answer; the message names the URL (password hidden) and what to check |
| 6 | the database has no hub schema (`hub db upgrade` makes it); a read command never creates one |
| 130 | interrupted (Ctrl-C) |

`hub --debug COMMAND` shows the traceback as well. Anything not recognised here is a bug: it keeps its traceback.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

OK = 0
FAILED = 1
USAGE = 2
SETTINGS = 3
NO_FILE = 4
UNREACHABLE = 5
NO_SCHEMA = 6
INTERRUPTED = 130

EXIT_CODES = {
    OK: "done",
    FAILED: "the command refused or failed (the message says why)",
    USAGE: "usage: unknown command, option or name",
    SETTINGS: "a HUB_* setting the hub cannot use (the message names it)",
    NO_FILE: "a file is missing or unreadable",
    UNREACHABLE: "RabbitMQ or the database does not answer",
    NO_SCHEMA: "the database has no hub schema (run `hub db upgrade`)",
    INTERRUPTED: "interrupted",
}


class CommandError(Exception):
    """An expected failure a command reports itself: `message` on stderr, `code` as the exit status."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Failure:
    code: int
    message: str


def redact(url: str) -> str:
    """A URL with its password replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _setting(name: str, default: str) -> str:
    return os.environ.get(name) or default


def broker_url() -> str:
    return redact(_setting("HUB_AMQP_URL", "amqp://guest:guest@localhost:5672/"))


def database_url() -> str:
    return redact(_setting("HUB_DATABASE_URL", "sqlite+aiosqlite:///hub.sqlite3"))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            for inner in current.exceptions:
                yield from _chain(inner)
        current = current.__cause__ or current.__context__


def _modules(exc: BaseException) -> set[str]:
    """The top-level packages the traceback went through (who was talking to whom)."""
    modules: set[str] = set()
    for error in _chain(exc):
        tb = error.__traceback__
        while tb is not None:
            modules.add(str(tb.tb_frame.f_globals.get("__name__", "")).split(".", 1)[0])
            tb = tb.tb_next
    return modules


def _settings_classes() -> dict[str, type[Any]]:
    from pydantic_settings import BaseSettings

    found: dict[str, type[Any]] = {}
    pending: list[type[Any]] = [BaseSettings]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            found.setdefault(sub.__name__, sub)
            pending.append(sub)
    return found


def _env_name(model: type[Any] | None, loc: tuple[Any, ...]) -> str:
    """The environment variable a settings error is about: the group's prefix and the field's name."""
    if model is None or not loc:
        return ".".join(map(str, loc)) or "settings"
    field = str(loc[0])
    info = getattr(model, "model_fields", {}).get(field)
    annotation = getattr(info, "annotation", None)
    if len(loc) > 1 and isinstance(annotation, type) and hasattr(annotation, "model_config"):
        return _env_name(annotation, loc[1:])
    alias = getattr(info, "validation_alias", None) or getattr(info, "alias", None)
    if isinstance(alias, str):
        return alias.upper()
    prefix = str(getattr(model, "model_config", {}).get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def settings_problems(exc: Any, model: type[Any] | None = None) -> str | None:
    """A settings ValidationError as one line naming each environment variable (`HUB_PREFETCH=abc: ...`), the
    value shown only where it holds no secret; None when the error is not about a settings class."""
    model = model or _settings_classes().get(str(exc.title))
    if model is None:
        return None
    parts = []
    for error in exc.errors(include_url=False):
        loc = tuple(error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if not loc:  # a check of the settings as a whole (HUB_ENV=production): its message names what it refuses
            parts.append(message)
            continue
        name = _env_name(model, loc)
        value = os.environ.get(name, error.get("input"))
        shown = value if isinstance(value, str) and name not in _SECRET_NAMES and "PASSWORD" not in name else None
        given = f"={shown}" if shown is not None else ""
        parts.append(f"{name}{given}: {message}")
    return "; ".join(parts)


def _settings_failure(exc: Any) -> Failure | None:
    problems = settings_problems(exc)
    return None if problems is None else Failure(SETTINGS, "bad setting " + problems)


_SECRET_NAMES = {"HUB_WEBHOOK_SECRETS", "HUB_SMTP_PASSWORD", "HUB_AMQP_URL", "HUB_DATABASE_URL"}

_MISSING_TABLE = re.compile(r"no such table|relation \"?[\w.]+\"? does not exist|UndefinedTable", re.IGNORECASE)


def classify(exc: BaseException) -> Failure | None:
    """The one line and exit code of an expected failure, or None for a bug (which keeps its traceback)."""
    if isinstance(exc, KeyboardInterrupt):
        return Failure(INTERRUPTED, "interrupted")
    if isinstance(exc, CommandError):
        return Failure(exc.code, exc.message)
    from pydantic import ValidationError

    for error in _chain(exc):
        if type(error).__name__ == "NoDatabase":
            return Failure(
                NO_SCHEMA,
                f"no database at {getattr(error, 'path', error)} (HUB_DATABASE_URL): `hub db upgrade` makes it "
                "(and `hub run` does on start); nothing was created",
            )
        if isinstance(error, ValidationError):
            failure = _settings_failure(error)
            if failure is not None:
                return failure
        if isinstance(error, FileNotFoundError | IsADirectoryError | PermissionError | NotADirectoryError) and (
            error.filename is not None
        ):
            what = {FileNotFoundError: "no such file", IsADirectoryError: "a directory, not a file"}.get(
                type(error), error.strerror or "cannot read"
            )
            return Failure(NO_FILE, f"{what}: {error.filename}")
    text = " ".join(f"{type(e).__name__}: {e}" for e in _chain(exc))
    modules = _modules(exc)
    if _MISSING_TABLE.search(text) and ({"sqlalchemy", "asyncpg", "aiosqlite", "sqlite3"} & modules):
        return Failure(
            NO_SCHEMA, f"the database at {database_url()} has no hub schema: run `hub db upgrade` (HUB_DATABASE_URL)"
        )
    unreachable = any(
        isinstance(e, ConnectionError | TimeoutError | OSError) or type(e).__name__ in _UNREACHABLE_NAMES
        for e in _chain(exc)
    )
    if unreachable:
        reason = _reason(exc)
        if {"aiormq", "aio_pika", "pamqp", "faststream"} & modules or "AMQP" in text:
            return Failure(
                UNREACHABLE,
                f"cannot reach RabbitMQ at {broker_url()} ({reason}): is it running, and are HUB_AMQP_URL's host, "
                "port, user and vhost right?",
            )
        if {"sqlalchemy", "asyncpg", "aiosqlite"} & modules:
            return Failure(
                UNREACHABLE,
                f"cannot reach the database at {database_url()} ({reason}): is it running, and is HUB_DATABASE_URL right?",
            )
    for error in _chain(exc):
        if type(error).__name__ in {"DBAPIError", "OperationalError", "ProgrammingError", "IntegrityError"} and (
            "sqlalchemy" in type(error).__module__
        ):
            first = (str(error.args[0] if error.args else error).splitlines() or ["database error"])[0][:200]
            return Failure(FAILED, f"database error at {database_url()}: {first}")
    return None


_UNREACHABLE_NAMES = {
    "AMQPConnectionError",
    "ConnectionClosed",
    "ProbableAuthenticationError",
    "IncompatibleProtocolError",
    "InvalidPasswordError",
    "InvalidCatalogNameError",
    "CannotConnectNowError",
    "OperationalError",
}


def _reason(exc: BaseException) -> str:
    for error in _chain(exc):
        if isinstance(error, OSError) and error.strerror:
            return error.strerror.lower()
        if type(error).__name__ in {"ProbableAuthenticationError", "InvalidPasswordError"}:
            return "user or password refused"
        if type(error).__name__ == "InvalidCatalogNameError":
            return "no such database"
    first = next(iter(_chain(exc)))
    return (str(first).splitlines() or [type(first).__name__])[0][:200] or type(first).__name__


def report(exc: BaseException, *, debug: bool) -> int:
    """Print an expected failure as one line on stderr (with the traceback under --debug); re-raise a bug."""
    failure = classify(exc)
    if failure is None:
        raise exc
    if debug:
        import traceback

        traceback.print_exception(exc)
    print(f"hub: error: {failure.message}" if failure.code != INTERRUPTED else "hub: interrupted", file=sys.stderr)
    return failure.code

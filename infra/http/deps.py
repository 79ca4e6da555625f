"""Dependencies of the HTTP routes, each named once as an `Annotated` alias.

The composition root builds every service and `provide`s it on the app; `service(T)` is the dependency that
hands the provided `T` to a route. A consumer's router declares its own aliases the same way
(`Stats = Annotated[StatsApi, Depends(service(StatsApi))]`), so adding a router never touches this module.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, FastAPI, HTTPException, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from infra.errors import describe

log = logging.getLogger("hub.http")

T = TypeVar("T")


def provide(app: FastAPI, value: object, *, as_type: type[Any] | None = None) -> None:
    """Make `value` the app's service of its type (or of `as_type`)."""
    services: dict[type[Any], object] = getattr(app.state, "services", None) or {}
    services[as_type or type(value)] = value
    app.state.services = services


def provided(app: FastAPI, kind: type[T]) -> T:
    try:
        return cast(T, app.state.services[kind])
    except (AttributeError, KeyError):
        raise LookupError(f"the composition root provides no {kind.__name__}") from None


def service(kind: type[T]) -> Callable[[Request], T]:
    """The dependency that gives a route the app's provided `kind`."""

    def dependency(request: Request) -> T:
        return provided(request.app, kind)

    dependency.__name__ = f"provided_{kind.__name__}"
    return dependency


Engine = Annotated[AsyncEngine, Depends(service(AsyncEngine))]
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(service(async_sessionmaker))]


async def _session(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        try:
            yield session
        except (DBAPIError, OSError) as exc:
            # Neither the log nor the public gets the driver's message: it holds the statement's parameters
            # (a reporter's name, phone, e-mail) and can name hosts and users.
            log.warning("database unavailable for an HTTP request", extra={"error": describe(exc)})
            raise HTTPException(503, "the database is not available") from None


Session = Annotated[AsyncSession, Depends(_session)]

"""What operators do with the contractors' deliveries, for `hub deliveries` and the console's operations page alike:
the endpoints' states, the deliveries to look at, a replay of exhausted ones, an endpoint enabled again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from consumers.contractors.endpoints import EndpointState, endpoint_states
from consumers.contractors.tables import Delivery, DeliveryEndpoint
from consumers.domain.catalogue import Catalogue
from infra.sending import reschedule_exhausted


async def endpoints(
    session: AsyncSession,
    catalogue: Catalogue,
    *,
    webhook_secrets: Mapping[str, list[str]],
    smtp_host: str | None,
    failure_threshold: int,
    now: dt.datetime,
    tz: dt.tzinfo,
) -> list[EndpointState]:
    rows = {ep.assignee: ep for ep in (await session.execute(select(DeliveryEndpoint))).scalars()}
    return endpoint_states(
        [(a.code, a.channel) for a in catalogue.assignees.values()],
        rows,
        webhook_secrets=webhook_secrets,
        smtp_host=smtp_host,
        failure_threshold=failure_threshold,
        now=now,
        tz=tz,
    )


async def deliveries(
    session: AsyncSession, *, state: str | None = None, assignee: str | None = None, limit: int = 50
) -> list[Delivery]:
    """Deliveries, newest first."""
    stmt = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if state:
        stmt = stmt.where(Delivery.state == state)
    if assignee:
        stmt = stmt.where(Delivery.assignee == assignee)
    return list((await session.execute(stmt)).scalars())


async def replay(session: AsyncSession, *, delivery_id: int | None, now: dt.datetime) -> int:
    """Exhausted deliveries (one, or all) scheduled again, with the same webhook-id and body."""
    return await reschedule_exhausted(session, Delivery, row_id=delivery_id, now=now)


async def enable(session: AsyncSession, assignee: str, *, now: dt.datetime) -> int:
    """An endpoint disabled (410 Gone) or with an open circuit taken back into service; 0: no such endpoint."""
    result = await session.execute(
        update(DeliveryEndpoint)
        .where(DeliveryEndpoint.assignee == assignee)
        .values(disabled_at=None, disabled_reason=None, consecutive_failures=0, open_until=None, updated_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)

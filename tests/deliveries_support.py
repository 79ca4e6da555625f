"""Scheduled sends in a state worth looking at, for the operations page's test and the screenshot script: the waste
company's webhook with its circuit open, the grid operator's disabled by a 410, deliveries pending and exhausted,
and alert notifications to the communication team pending and exhausted. Rows as the delivery workers leave them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from consumers.contractors.tables import Delivery, DeliveryEndpoint
from consumers.notifier.tables import AlertNotification
from infra.db import create_engine, create_session_factory
from infra.sending import EXHAUSTED, PENDING

# What the endpoints need to be configured (else they are "not configured", whatever their rows say).
WEBHOOK_SECRETS = '{"waste_company": ["whsec_planted_1"], "grid_operator": ["whsec_planted_2"]}'
OPEN_FOR = dt.timedelta(minutes=20)


@dataclass(frozen=True)
class Planted:
    pending: list[int]
    exhausted: list[int]
    notifications_pending: list[int]
    notifications_exhausted: list[int]
    open_until: dt.datetime
    disabled_at: dt.datetime


async def plant_deliveries(database_url: str, now: dt.datetime) -> Planted:
    run = uuid.uuid4().hex[:8]
    open_until = now + OPEN_FOR
    disabled_at = now - dt.timedelta(hours=3)

    def delivery(i: int, assignee: str, channel: str, state: str, attempts: int, status: int | None, error: str):
        return Delivery(
            delivery_id=f"{run}-{i}",
            work_order_id=f"wo-{run}{i:02d}{uuid.uuid4().hex[:20]}",
            assignee=assignee,
            channel=channel,
            body=b"{}",
            state=state,
            attempts=attempts,
            next_attempt_at=open_until if state == PENDING else now - dt.timedelta(hours=1),
            created_at=now - dt.timedelta(hours=6 - i),
            last_attempt_at=now - dt.timedelta(minutes=30 + i),
            last_status=status,
            last_error=error,
        )

    def notification(i: int, channel: str, state: str, attempts: int, status: int | None, error: str):
        return AlertNotification(
            notification_id=f"inc-{run}/detected/1/{channel}/{i}",
            alert_id=f"inc-{run}/detected/1",
            routing_key="spike.detected",
            channel=channel,
            body=b"{}",
            state=state,
            attempts=attempts,
            next_attempt_at=now + dt.timedelta(minutes=5) if state == PENDING else now - dt.timedelta(hours=1),
            created_at=now - dt.timedelta(hours=2),
            last_attempt_at=now - dt.timedelta(minutes=10),
            last_status=status,
            last_error=error,
        )

    deliveries = [
        delivery(1, "waste_company", "webhook", PENDING, 6, 503, "HTTP 503"),
        delivery(2, "waste_company", "webhook", PENDING, 5, None, "timeout"),
        delivery(3, "grid_operator", "webhook", EXHAUSTED, 2, 410, "410 Gone: endpoint disabled"),
        delivery(4, "road_firm", "email", EXHAUSTED, 7, None, "SMTP 550: 5.1.1 mailbox unavailable"),
    ]
    notifications = [
        notification(1, "chat", EXHAUSTED, 4, 500, "HTTP 500"),
        notification(2, "email", PENDING, 1, None, "SMTPConnectError: connection refused"),
    ]
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            session.add_all(
                [
                    DeliveryEndpoint(
                        assignee="waste_company", consecutive_failures=6, open_until=open_until, updated_at=now
                    ),
                    DeliveryEndpoint(
                        assignee="grid_operator",
                        consecutive_failures=1,
                        disabled_at=disabled_at,
                        disabled_reason="410 Gone",
                        updated_at=disabled_at,
                    ),
                    *deliveries,
                    *notifications,
                ]
            )
            await session.commit()
            return Planted(
                pending=[d.id for d in deliveries if d.state == PENDING],
                exhausted=[d.id for d in deliveries if d.state == EXHAUSTED],
                notifications_pending=[n.id for n in notifications if n.state == PENDING],
                notifications_exhausted=[n.id for n in notifications if n.state == EXHAUSTED],
                open_until=open_until,
                disabled_at=disabled_at,
            )
    finally:
        await engine.dispose()

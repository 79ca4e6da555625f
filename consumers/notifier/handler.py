"""The notifier's effect: one scheduled delivery per alert and configured channel, exactly once (inbox-guarded)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from consumers.notifier.tables import AlertNotification
from contracts import SpikeDetected, SpikeResolved
from infra.clock import utcnow
from infra.db.dialect import insert_ignore
from infra.sending import PENDING

CHANNELS = ("email", "webhook")


def notification_id_for(alert_id: str, channel: str) -> str:
    """The same for an alert and channel on every attempt and every replay of the alert."""
    return f"{alert_id}/{channel}"


@dataclass(frozen=True)
class NotifierService:
    """Schedules the first attempt of each configured channel at once; the worker sends."""

    channels: Sequence[str]
    clock: Callable[[], dt.datetime] = utcnow

    async def enqueue(self, session: AsyncSession, alert: SpikeDetected | SpikeResolved, alert_id: str) -> None:
        """One `alert_notifications` row per configured channel; a row that exists (same alert) is left alone."""
        now = self.clock()
        for channel in self.channels:
            await session.execute(
                insert_ignore(session, AlertNotification).values(
                    notification_id=notification_id_for(alert_id, channel),
                    alert_id=alert_id,
                    routing_key=alert.routing_key,
                    channel=channel,
                    body=alert.model_dump_json().encode(),
                    state=PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )

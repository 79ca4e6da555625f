"""The notifier's table: the communication team's e-mail and chat deliveries of each alert, scheduled here."""

from __future__ import annotations

from sqlalchemy import (
    Index,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.base import Base
from infra.sending import ScheduledRow


class AlertNotification(ScheduledRow, Base):
    """One alert to e-mail or post to the chat webhook; attempts are scheduled here, never held on the broker."""

    __tablename__ = "alert_notifications"

    notification_id: Mapped[str] = mapped_column(String(300), unique=True)
    alert_id: Mapped[str] = mapped_column(String(300), index=True)
    routing_key: Mapped[str] = mapped_column(String(40))
    # channel, body, state, attempts and the times and outcome of the attempts: `ScheduledRow`.

    __table_args__ = (
        Index(
            "ix_alert_notifications_due",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )

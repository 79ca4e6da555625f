"""The notifier's table: the communication team's e-mail and chat deliveries of each alert, scheduled here."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.base import Base, BigId, Timestamp


class AlertNotification(Base):
    """One alert to e-mail or post to the chat webhook; attempts are scheduled here, never held on the broker."""

    __tablename__ = "alert_notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notification_id: Mapped[str] = mapped_column(String(300), unique=True)
    alert_id: Mapped[str] = mapped_column(String(300), index=True)
    routing_key: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(
            "ix_alert_notifications_due",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )

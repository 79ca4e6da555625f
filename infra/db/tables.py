"""The generic tables every consumer shares: the inbox (deduplication) and the outbox (publish after commit)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.base import Base, BigId, Timestamp


class InboxEntry(Base):
    """A delivery a consumer has applied. Written in the same transaction as the consumer's effects."""

    __tablename__ = "inbox"

    consumer: Mapped[str] = mapped_column(String(40), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[dt.datetime] = mapped_column(Timestamp, index=True)
    # SHA-256 of the body first applied under this id (where the consumer records it): the same id with another
    # body is not a duplicate but a conflict, dead-lettered with the reason.
    body_hash: Mapped[str | None] = mapped_column(String(64))


class OutboxMessage(Base):
    """A message a consumer emitted, published after commit by the relay with publisher confirms."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    exchange: Mapped[str] = mapped_column(String(200))
    routing_key: Mapped[str] = mapped_column(String(255))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_type: Mapped[str] = mapped_column(String(100), default="application/json")
    message_type: Mapped[str | None] = mapped_column(String(200))
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    published_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The writer handed the row to the relay of its own process: other relays sweep it only after a grace period.
    handed_off: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # After a failed publish: not before this time again (a back-off, so failing rows never crowd out fresh ones).
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    # Set when the broker refused the row `max_attempts` times (no queue bound, nacked): no relay tries it again
    # until an operator clears it. `last_error` says why.
    parked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)

    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )

"""The hub's tables. Personal data lives only in `reports.reporter_*`; statistics tables never hold it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for a high-volume outbox.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Timestamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class InboxEntry(Base):
    """A delivery a consumer has applied. Written in the same transaction as the consumer's effects."""

    __tablename__ = "inbox"

    consumer: Mapped[str] = mapped_column(String(40), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[dt.datetime] = mapped_column(Timestamp, index=True)


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

    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )


class Report(Base):
    """A citizen report as the router received it."""

    __tablename__ = "reports"

    report_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200))
    filed_at: Mapped[dt.datetime] = mapped_column(Timestamp, index=True)
    received_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    channel: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(64), index=True)
    category_known: Mapped[bool] = mapped_column(Boolean)
    waste_fraction: Mapped[str | None] = mapped_column(String(40))
    street: Mapped[str] = mapped_column(String(200))
    house_number: Mapped[str | None] = mapped_column(String(20))
    postcode: Mapped[str] = mapped_column(String(4))
    district: Mapped[str] = mapped_column(String(100), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    description: Mapped[str] = mapped_column(Text)
    # Personal data: erased by retention and on request (`hub privacy erase`).
    reporter_name: Mapped[str | None] = mapped_column(String(200))
    reporter_phone: Mapped[str | None] = mapped_column(String(40))
    reporter_email: Mapped[str | None] = mapped_column(String(320))
    call_id: Mapped[str | None] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(100))
    rules_version: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="routed")
    closed_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class WorkOrder(Base):
    """One assignee's order for one report: unique per (report, assignee), deterministic id."""

    __tablename__ = "work_orders"

    work_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.report_id"))
    assignee: Mapped[str] = mapped_column(String(64), index=True)
    category: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="issued")
    issued_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    due_date: Mapped[dt.date] = mapped_column(Date)
    rule_id: Mapped[str] = mapped_column(String(100))
    includes_contact: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)

    __table_args__ = (UniqueConstraint("report_id", "assignee", name="uq_work_orders_report_assignee"),)

"""Contractors' tables: status history, escalations, outgoing webhook and e-mail deliveries.

No personal data: deliveries carry the work order as the assignee's data policy allows it (the router already
withheld the reporter for contractors), never anything read from `reports`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Date,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.base import Base, BigId, Timestamp
from infra.sending import ScheduledRow


class WorkOrderEvent(Base):
    """One applied status change of a work order: the history behind `work_orders.status`."""

    __tablename__ = "work_order_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    work_order_id: Mapped[str] = mapped_column(String(64), index=True)
    message_id: Mapped[str] = mapped_column(String(200))
    previous_status: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    changed_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    recorded_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    sender: Mapped[str] = mapped_column(String(200))
    planned_for: Mapped[dt.date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


class WorkOrderEscalation(Base):
    """A work order escalated because it was not acknowledged in time: the key makes it once, whatever the replicas."""

    __tablename__ = "work_order_escalations"

    work_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    escalated_to: Mapped[str] = mapped_column(String(64))
    escalated_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class DeliveryEndpoint(Base):
    """Health of one assignee's webhook or mailbox: circuit breaker and 410-disabled state, shared by replicas."""

    __tablename__ = "delivery_endpoints"

    assignee: Mapped[str] = mapped_column(String(64), primary_key=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    open_until: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class Delivery(ScheduledRow, Base):
    """One work order (or its reminder) to send to a webhook or by e-mail; attempts are scheduled here, never held
    on the broker."""

    __tablename__ = "deliveries"

    delivery_id: Mapped[str] = mapped_column(String(200), unique=True)
    work_order_id: Mapped[str] = mapped_column(String(64), index=True)
    assignee: Mapped[str] = mapped_column(String(64))
    # What it sends: the work order (`workorder.issued`) or its reminder on the due date (`workorder.reminder`).
    kind: Mapped[str] = mapped_column(String(40), default="workorder.issued", server_default="workorder.issued")
    # channel, body, state, attempts and the times and outcome of the attempts: `ScheduledRow`.

    __table_args__ = (
        Index(
            "ix_deliveries_due",
            "assignee",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )

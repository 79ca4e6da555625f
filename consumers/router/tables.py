"""The router's tables: reports as received and one work order per (report, assignee).

Personal data lives only in `reports.reporter_*` (erased by retention and on request, `consumers.privacy`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.base import Base, Timestamp


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
    # Empty only for a report whose point lies outside every district (it went to triage unplaced).
    street: Mapped[str | None] = mapped_column(String(200))
    house_number: Mapped[str | None] = mapped_column(String(20))
    postcode: Mapped[str | None] = mapped_column(String(4))
    district: Mapped[str | None] = mapped_column(String(100), index=True)
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

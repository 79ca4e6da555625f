"""The statistics consumer's tables.

Facts the statistics consumer stored (one row per call, report, work order, status change, incident) and the
counters kept from them. No personal data: no reporter, no description, no house number, no agent.
Times are UTC instants; `local_*` columns are the Europe/Brussels view at ingest, so a later change of the
calendar does not rewrite history when the counters are rebuilt.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.base import Base, Timestamp


class StatCall(Base):
    """A logged call as the statistics count it."""

    __tablename__ = "stat_calls"

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(Timestamp, index=True)
    local_date: Mapped[dt.date] = mapped_column(Date, index=True)
    local_hour: Mapped[int] = mapped_column(Integer)
    weekday: Mapped[int] = mapped_column(Integer)
    topic: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(20))
    duration_seconds: Mapped[int] = mapped_column(Integer)
    district: Mapped[str | None] = mapped_column(String(100))
    outside_opening_hours: Mapped[bool] = mapped_column(Boolean)
    related_report_id: Mapped[str | None] = mapped_column(String(64))


class StatReport(Base):
    """A filed report as the statistics count it: where and what, never who."""

    __tablename__ = "stat_reports"

    report_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    filed_at: Mapped[dt.datetime] = mapped_column(Timestamp, index=True)
    local_date: Mapped[dt.date] = mapped_column(Date, index=True)
    local_hour: Mapped[int] = mapped_column(Integer)
    weekday: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(64))
    waste_fraction: Mapped[str | None] = mapped_column(String(40))
    district: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(20))
    outside_opening_hours: Mapped[bool] = mapped_column(Boolean)
    call_id: Mapped[str | None] = mapped_column(String(64))


class StatWorkOrder(Base):
    """A work order as issued (from `workorder.issued.*`), for SLA figures per assignee and category."""

    __tablename__ = "stat_workorders"

    work_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    report_id: Mapped[str] = mapped_column(String(64), index=True)
    assignee: Mapped[str] = mapped_column(String(64), index=True)
    category: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    # The local day of the report's filing (event time): the period the order counts in.
    local_date: Mapped[dt.date] = mapped_column(Date, index=True)
    due_date: Mapped[dt.date] = mapped_column(Date)
    sla_working_days: Mapped[int] = mapped_column(Integer)
    # When the report was filed (WorkOrderIssued 1.2); null for orders stored before, counted at `issued_at`.
    filed_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    # Set for an incident order (WorkOrderIssued 1.3): one order for every report of a live incident.
    incident_id: Mapped[str | None] = mapped_column(String(200))


class StatFoldedReport(Base):
    """A report folded into an incident order (from the order and its updates): its work stands with that order."""

    __tablename__ = "stat_folded_reports"

    report_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    work_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class StatWorkOrderEvent(Base):
    """A status change an assignee reported; the same change sent twice is one row."""

    __tablename__ = "stat_workorder_events"

    work_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    changed_at: Mapped[dt.datetime] = mapped_column(Timestamp, primary_key=True)
    assignee: Mapped[str] = mapped_column(String(64))


class StatIncident(Base):
    """A detected spike: when it was seen, alerted and resolved, for the incident timeline."""

    __tablename__ = "stat_incidents"

    incident_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    incident_key: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(64))
    waste_fraction: Mapped[str | None] = mapped_column(String(40))
    district: Mapped[str] = mapped_column(String(100))
    street: Mapped[str | None] = mapped_column(String(200))
    first_seen_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    detected_at: Mapped[dt.datetime] = mapped_column(Timestamp, index=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    # The first notice the communication team posted (IncidentBroadcast); later ones do not move it.
    broadcast_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    calls_in_window: Mapped[int | None] = mapped_column(Integer)
    reports_in_window: Mapped[int | None] = mapped_column(Integer)
    total_calls: Mapped[int | None] = mapped_column(Integer)
    total_reports: Mapped[int | None] = mapped_column(Integer)


class StatCounter(Base):
    """One counter: `n` facts (and their `sum_seconds`) of a metric in one local period, for one dimension value.

    The key order serves the read side: metric, grain and dimension fixed, a range of periods.
    """

    __tablename__ = "stat_counters"

    metric: Mapped[str] = mapped_column(String(20), primary_key=True)
    period_kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    dim_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    period_start: Mapped[dt.datetime] = mapped_column(Timestamp, primary_key=True)
    dim_value: Mapped[str] = mapped_column(String(200), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    sum_seconds: Mapped[int] = mapped_column(BigInteger)

"""The router's tables: reports as received, one work order per (report, assignee), and the incident folding.

An incident order is a row of `work_orders` too (`kind = 'incident'`, its `report_id` the incident's first report),
so the status path, escalations and `hub workorders` treat it as any order; `incident_orders` holds what only it has,
`incident_links` which reports (per assignee) were folded into it, and `router_incidents` the incidents the router
learnt from `spike.detected` / `spike.resolved`.

Personal data lives only in `reports.reporter_*` (erased by retention and on request, `consumers.privacy`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.base import Base, Timestamp

REPORT_KIND = "report"
INCIDENT_KIND = "incident"


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
    # 'report': one report's order; 'incident': the one order for every report of a live incident (see module).
    kind: Mapped[str] = mapped_column(String(10), default=REPORT_KIND, server_default=REPORT_KIND)

    __table_args__ = (UniqueConstraint("report_id", "assignee", "kind", name="uq_work_orders_report_assignee_kind"),)


class RouterIncident(Base):
    """An incident as the router knows it from the spikes consumer: its key, its span in event time, its draft."""

    __tablename__ = "router_incidents"

    incident_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    category: Mapped[str] = mapped_column(String(64))
    district: Mapped[str] = mapped_column(String(100))
    street: Mapped[str | None] = mapped_column(String(200))
    waste_fraction: Mapped[str | None] = mapped_column(String(40))
    # Null until its spike.detected came (a spike.resolved may arrive first: queues keep no order after a retry).
    first_seen_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    detected_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    # The streets of the detection (JSON list): what "far from the incident" is measured against.
    streets: Mapped[str] = mapped_column(Text, default="[]")
    draft_nl: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)

    __table_args__ = (Index("ix_router_incidents_key", "category", "district"),)


class IncidentOrder(Base):
    """What an incident order has beyond its `work_orders` row: its incident, counts and the update throttle."""

    __tablename__ = "incident_orders"

    work_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(200))
    assignee: Mapped[str] = mapped_column(String(64))
    reports: Mapped[int] = mapped_column(Integer, default=0)
    first_report_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    last_report_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    # Updates sent so far, and the event time of the last message sent (the order or its latest update).
    seq: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    # Links not announced yet (joined since the last message): an update is due when the interval has passed.
    pending: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)

    __table_args__ = (UniqueConstraint("incident_id", "assignee", name="uq_incident_orders_incident_assignee"),)


class IncidentLink(Base):
    """A report folded into an incident order (per assignee): how, and whether staff took it out again."""

    __tablename__ = "incident_links"

    report_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    assignee: Mapped[str] = mapped_column(String(64), primary_key=True)
    work_order_id: Mapped[str] = mapped_column(String(64), index=True)
    incident_id: Mapped[str] = mapped_column(String(200))
    # 'live': folded when routed (no order of its own); 'merged': routed before the alert, its order closed as merged.
    how: Mapped[str] = mapped_column(String(10))
    merged_work_order_id: Mapped[str | None] = mapped_column(String(64))
    street: Mapped[str | None] = mapped_column(String(200))
    house_number: Mapped[str | None] = mapped_column(String(20))
    filed_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    linked_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    announced: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    unfolded_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    unfolded_by: Mapped[str | None] = mapped_column(String(200))

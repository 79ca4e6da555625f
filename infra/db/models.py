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
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
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


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out, on PostgreSQL and SQLite alike.

    SQLite has no time zone type: without this, a stored `+01:00` comes back naive and shifted.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: every time stored by the hub carries its offset")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


Timestamp = UtcDateTime()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


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


# --- statistics ---
# Facts the statistics consumer stored (one row per call, report, work order, status change, incident) and the
# counters kept from them. No personal data: no reporter, no description, no house number, no agent.
# Times are UTC instants; `local_*` columns are the Europe/Brussels view at ingest, so a later change of the
# calendar does not rewrite history when the counters are rebuilt.


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
    local_date: Mapped[dt.date] = mapped_column(Date, index=True)
    due_date: Mapped[dt.date] = mapped_column(Date)
    sla_working_days: Mapped[int] = mapped_column(Integer)


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


# Contractors: status history, escalations, outgoing webhook and e-mail deliveries
# No personal data: deliveries carry the work order as the assignee's data policy allows it (the router already
# withheld the reporter for contractors), never anything read from `reports`.


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


class Delivery(Base):
    """One work order to send to a webhook or by e-mail; attempts are scheduled here, never held on the broker."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(200), unique=True)
    work_order_id: Mapped[str] = mapped_column(String(64), index=True)
    assignee: Mapped[str] = mapped_column(String(64))
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
            "ix_deliveries_due",
            "assignee",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )


# Spikes: counts per incident key, the alert book, alerts sent or suppressed, silences, and the
# communication team's e-mail and chat deliveries. No personal data: contacts keep where and what, never who.


class SpikeCount(Base):
    """Calls and reports of one incident key in one time bucket; only ever changed by atomic `n = n + x` upserts."""

    __tablename__ = "spike_counts"

    key_id: Mapped[str] = mapped_column(String(400), primary_key=True)
    bucket_start: Mapped[dt.datetime] = mapped_column(Timestamp, primary_key=True)
    calls: Mapped[int] = mapped_column(Integer)
    reports: Mapped[int] = mapped_column(Integer)
    linked_calls: Mapped[int] = mapped_column(Integer)

    # Baseline fits read a time range over all keys.
    __table_args__ = (Index("ix_spike_counts_bucket_start", "bucket_start"),)


class SpikeContact(Base):
    """A call or report the spikes consumer counted (once per call or report id): an alert's streets, ids and times."""

    __tablename__ = "spike_contacts"

    contact_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    at: Mapped[dt.datetime] = mapped_column(Timestamp)
    category: Mapped[str] = mapped_column(String(64))
    district: Mapped[str] = mapped_column(String(100))
    street: Mapped[str | None] = mapped_column(String(200))
    waste_fraction: Mapped[str | None] = mapped_column(String(40))
    report_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_spike_contacts_group", "category", "district", "at"),)


class SpikeAssignment(Base):
    """A work order issued for a report (from `workorder.issued.*`): the assignees an alert says were notified."""

    __tablename__ = "spike_assignments"

    report_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    assignee: Mapped[str] = mapped_column(String(64), primary_key=True)


class SpikeState(Base):
    """The one row every spikes transaction locks: the alert book, the watermark and the day's baseline."""

    __tablename__ = "spike_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    baseline_day: Mapped[dt.date | None] = mapped_column(Date)
    baseline: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class Alert(Base):
    """A notification the lifecycle decided: sent (via the outbox) or suppressed (silenced, inhibited), each once."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # `<incident id>/<kind>/<seq>`, also the message id of what was sent: the unique key that makes it once.
    alert_id: Mapped[str] = mapped_column(String(300), unique=True)
    incident_id: Mapped[str] = mapped_column(String(200), index=True)
    incident_key: Mapped[str] = mapped_column(String(400))
    # detected | update | resolved (sent), suppressed-<fire|update|resolve|street> (recorded, not sent).
    kind: Mapped[str] = mapped_column(String(24))
    seq: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64))
    district: Mapped[str] = mapped_column(String(100))
    street: Mapped[str | None] = mapped_column(String(200))
    event_at: Mapped[dt.datetime] = mapped_column(Timestamp, index=True)
    onset: Mapped[dt.datetime] = mapped_column(Timestamp)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    observed: Mapped[int] = mapped_column(Integer)
    expected: Mapped[float] = mapped_column(Float)
    p_value: Mapped[float] = mapped_column(Float)
    routing_key: Mapped[str | None] = mapped_column(String(40))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)

    __table_args__ = (UniqueConstraint("incident_id", "kind", "seq", name="uq_alerts_incident_kind_seq"),)


class AlertSilence(Base):
    """Mutes alerts of an incident key, or of a category and/or area, until `ends_at` (event time), with a reason."""

    __tablename__ = "alert_silences"

    silence_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str | None] = mapped_column(String(64))
    district: Mapped[str | None] = mapped_column(String(100))
    street: Mapped[str | None] = mapped_column(String(200))
    starts_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    ends_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


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


# Operations: erasures of reporters' contact data, recorded without the data


class PrivacyErasure(Base):
    """One erasure of a report's contact data (on request or by retention): where it was erased, never what."""

    __tablename__ = "privacy_erasures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    erasure_id: Mapped[str] = mapped_column(String(64), unique=True)
    report_id: Mapped[str] = mapped_column(String(64), index=True)
    # request | retention
    trigger: Mapped[str] = mapped_column(String(12))
    erased_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    # The report row still held contact data and this erasure removed it (False: already erased, or never stored).
    report_erased: Mapped[bool] = mapped_column(Boolean)
    outbox_rows: Mapped[int] = mapped_column(Integer)
    delivery_rows: Mapped[int] = mapped_column(Integer)
    # Dead-letter copies scrubbed on the broker; NULL until that step ran (the broker may have been unreachable).
    dead_letters: Mapped[int | None] = mapped_column(Integer)
    # Assignees told to erase their copy (`workorder.reporter_erased.<assignee>`).
    notified: Mapped[list[str]] = mapped_column(JSON)

"""The spikes consumer's tables: counts per incident key, the alert book, alerts sent or suppressed, silences.

No personal data: contacts keep where and what, never who.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.base import Base, BigId, Timestamp


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


class IncidentDraft(Base):
    """The communication team's own text of an incident's notice in one language (the generated draft stays too)."""

    __tablename__ = "incident_drafts"

    incident_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    lang: Mapped[str] = mapped_column(String(2), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    edited_by: Mapped[str] = mapped_column(String(100))
    edited_at: Mapped[dt.datetime] = mapped_column(Timestamp)

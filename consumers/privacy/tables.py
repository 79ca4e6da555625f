"""Erasures of reporters' contact data, recorded without the data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.base import Base, BigId, Timestamp


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

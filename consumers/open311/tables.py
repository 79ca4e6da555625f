"""The Open311 server's tables: the clients' API keys (hashed) and the requests they filed.

No personal data: the reporter's name, e-mail and phone go into `report.filed` only (the router keeps them in
`reports`, where erasure and retention find them); the description is stored as the public sees it (contact
data masked), and `account_id` / `device_id` are never stored, only inside the resend fingerprint's hash.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.base import Base, Timestamp


class Open311ApiKey(Base):
    """A client's API key (`hub open311 keys add NAME`): only its SHA-256 is kept; the key is shown once."""

    __tablename__ = "open311_api_keys"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class Open311Request(Base):
    """A service request accepted over Open311; its id is the report id of the `report.filed` it became."""

    __tablename__ = "open311_requests"

    service_request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client: Mapped[str] = mapped_column(String(100))
    # SHA-256 over the client and the POST's fields (api_key left out): an identical resend within the window
    # is answered with this request instead of filing a second one.
    fingerprint: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[dt.datetime] = mapped_column(Timestamp, index=True)
    service_code: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(Text)  # contact data masked
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    address_string: Mapped[str | None] = mapped_column(String(300))
    address_id: Mapped[str | None] = mapped_column(String(100))
    media_url: Mapped[str | None] = mapped_column(String(1000))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    # What the router was expected to decide when the request was accepted (until its work orders exist).
    agency_responsible: Mapped[str] = mapped_column(String(300))
    service_notice: Mapped[str] = mapped_column(Text)
    expected_date: Mapped[dt.date | None] = mapped_column(Date)

    __table_args__ = (Index("ix_open311_requests_resend", "client", "fingerprint", "requested_at"),)

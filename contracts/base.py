"""Shared pieces of the message contract: the base model, locations, contact data, CloudEvents metadata."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field

# Time stamps on the wire are ISO 8601 with an offset; a naive time is a schema violation.
Timestamp = Annotated[AwareDatetime, Field(examples=["2021-03-15T09:42:00+01:00"])]


class Contract(BaseModel):
    """Base of every public message: strict about unknown fields, versioned by its CloudEvents type."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    # CloudEvents `type` attribute of this message, e.g. "be.sint-truiden.contact.report.filed.v1".
    ce_type: ClassVar[str]
    # Routing key on the `city.events` exchange.
    routing_key: ClassVar[str]
    schema_version: ClassVar[int] = 1


class Location(BaseModel):
    """Where a problem is: a Belgian address and, when the channel knows it, a WGS84 point."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    street: str = Field(
        min_length=1,
        max_length=200,
        description="Street name as written on the street sign.",
        examples=["Stapelstraat"],
    )
    house_number: str | None = Field(
        default=None,
        max_length=20,
        description="House number with optional box, if the problem is at an address.",
        examples=["12A"],
    )
    postcode: str = Field(pattern=r"^[1-9][0-9]{3}$", description="Belgian four-digit postcode.", examples=["3800"])
    district: str = Field(
        min_length=1, max_length=100, description="District (deelgemeente / wijk) of the city.", examples=["Brustem"]
    )
    lat: float | None = Field(
        default=None, ge=-90, le=90, description="WGS84 latitude in decimal degrees.", examples=[50.8167]
    )
    lon: float | None = Field(
        default=None, ge=-180, le=180, description="WGS84 longitude in decimal degrees.", examples=[5.1864]
    )


class ReporterContact(BaseModel):
    """Personal data of the citizen who filed a report. Only assignees whose data policy allows it receive it."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str | None = Field(
        default=None, max_length=200, description="Full name of the reporter.", examples=["An Peeters"]
    )
    phone: str | None = Field(
        default=None, max_length=40, description="Phone number of the reporter.", examples=["+32 11 70 14 14"]
    )
    email: EmailStr | None = Field(
        default=None, description="E-mail address of the reporter.", examples=["an.peeters@example.be"]
    )


class CloudEventMeta(BaseModel):
    """CloudEvents 1.0 context attributes carried with every message (AMQP binding, binary mode)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Unique message id; the hub's deduplication key.")
    source: str = Field(
        description="URI reference of the system that produced the event.", examples=["/city/telephony"]
    )
    type: str = Field(description="Versioned event type.", examples=["be.sint-truiden.contact.report.filed.v1"])
    specversion: str = Field(default="1.0", description="CloudEvents spec version.")
    time: datetime | None = Field(default=None, description="When the event happened.")
    subject: str | None = Field(default=None, description="The entity the event is about, e.g. the report id.")

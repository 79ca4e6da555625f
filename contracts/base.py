"""Shared pieces of the message contract: the base model, locations, contact data, CloudEvents metadata."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator

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
    # Backwards compatible additions (an optional field, a relaxed rule) raise the minor version only: a message
    # valid under 1.0 is valid under 1.1; the CloudEvents type names the major version.
    schema_minor_version: ClassVar[int] = 0


class Location(BaseModel):
    """Where a problem is: a Belgian address (street, postcode, district), a WGS84 point (lat, lon), or both.

    Since 1.1 a point alone is enough (an app knows a point on the map, not a district): the hub finds the
    district, the postcode and the nearest known street from the city's district boundaries.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    street: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Street name as written on the street sign. Required unless `lat` and `lon` are given.",
        examples=["Stapelstraat"],
    )
    house_number: str | None = Field(
        default=None,
        max_length=20,
        description="House number with optional box, if the problem is at an address.",
        examples=["12A"],
    )
    postcode: str | None = Field(
        default=None,
        pattern=r"^[1-9][0-9]{3}$",
        description="Belgian four-digit postcode. Required unless `lat` and `lon` are given.",
        examples=["3800"],
    )
    district: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="District (deelgemeente / wijk) of the city. Required unless `lat` and `lon` are given.",
        examples=["Brustem"],
    )
    lat: float | None = Field(
        default=None, ge=-90, le=90, description="WGS84 latitude in decimal degrees.", examples=[50.8167]
    )
    lon: float | None = Field(
        default=None, ge=-180, le=180, description="WGS84 longitude in decimal degrees.", examples=[5.1864]
    )

    @model_validator(mode="after")
    def _address_or_point(self) -> Location:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon come together")
        if self.lat is None and (self.street is None or self.postcode is None or self.district is None):
            raise ValueError("a location needs street, postcode and district, or a point (lat and lon)")
        return self

    @property
    def has_point(self) -> bool:
        return self.lat is not None and self.lon is not None


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

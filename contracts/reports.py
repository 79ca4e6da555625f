"""Reports (meldingen) filed by citizens through any channel."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import ConfigDict, Field

from contracts.base import Contract, Location, ReporterContact, Timestamp


class ReportChannel(StrEnum):
    """Through which channel the report reached the city."""

    PHONE = "phone"
    WEB = "web"
    APP = "app"
    EMAIL = "email"
    COUNTER = "counter"


class ReportFiled(Contract):
    """A citizen filed a report about a problem in public space (routing key `report.filed`)."""

    ce_type: ClassVar[str] = "be.sint-truiden.contact.report.filed.v1"
    routing_key: ClassVar[str] = "report.filed"
    # 1.1: a location may be a point alone; answers to the category's extra questions (`attributes`).
    schema_minor_version: ClassVar[int] = 1

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "report_id": "rep-2021-004711",
                    "filed_at": "2021-03-15T09:45:12+01:00",
                    "channel": "phone",
                    "category": "waste.missed_collection",
                    "waste_fraction": "residual",
                    "location": {
                        "street": "Stapelstraat",
                        "house_number": "12A",
                        "postcode": "3800",
                        "district": "Brustem",
                        "lat": 50.8167,
                        "lon": 5.1864,
                    },
                    "description": "Restafval niet opgehaald, hele straat staat nog buiten.",
                    "reporter": {"name": "An Peeters", "phone": "+32 11 70 14 14", "email": "an.peeters@example.be"},
                    "call_id": "call-2021-000123",
                    "attributes": {"waste_fraction": "residual", "out_since": "2021-03-15T07:00:00+01:00"},
                }
            ]
        }
    )

    report_id: str = Field(min_length=1, max_length=64, description="Unique id of the report in the reporting system.")
    filed_at: Timestamp = Field(description="When the report was filed.")
    channel: ReportChannel = Field(description="Channel through which the report was filed.")
    category: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$",
        description="Category code from the city's category catalogue, e.g. `lighting.defect`. Unknown codes go to triage.",
        examples=["lighting.defect"],
    )
    waste_fraction: str | None = Field(
        default=None,
        max_length=40,
        description="For waste categories: the fraction concerned (residual, pmd, paper, organic, glass).",
        examples=["residual"],
    )
    location: Location = Field(description="Where the problem is.")
    description: str = Field(default="", max_length=4000, description="The citizen's description of the problem.")
    reporter: ReporterContact | None = Field(
        default=None, description="Contact data of the reporter, if given. Personal data."
    )
    call_id: str | None = Field(
        default=None, max_length=64, description="The call during which the report was filed, if any."
    )
    attributes: dict[str, str | list[str]] = Field(
        default_factory=dict,
        max_length=50,
        description="Answers to the category's extra questions (`attributes` in categories.yaml, Open311 "
        "`attribute[code]`), by question code; a list for a multi-value question. Since 1.1.",
        examples=[{"pole_number": "STR-0412"}],
    )

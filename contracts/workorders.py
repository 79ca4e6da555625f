"""Work orders issued to city departments and external contractors, and their status updates."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import Contract, Location, ReporterContact, Timestamp


class WorkOrderStatus(StrEnum):
    """Life cycle of a work order."""

    ISSUED = "issued"
    ACCEPTED = "accepted"
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    REJECTED = "rejected"


class IncidentAddress(BaseModel):
    """One address of an incident order: a street and house number, and how many reports name it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    street: str = Field(description="Street name.", examples=["Brustemsesteenweg"])
    house_number: str | None = Field(default=None, description="House number, if the reports gave one.")
    reports: int = Field(ge=1, description="Reports about this address.")


class IncidentStreet(BaseModel):
    """One street of an incident order and how many reports name it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    street: str = Field(description="Street name.", examples=["Brustemsesteenweg"])
    reports: int = Field(ge=1, description="Reports about this street.")


class IncidentOrderDetails(BaseModel):
    """What an incident order is about: the incident and every report folded into it (since 1.3).

    No personal data: streets, house numbers and counts, never a reporter or a citizen's description.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    incident_id: str = Field(description="Id of the incident, as in its SpikeDetected.")
    incident_key: str = Field(description="Category and area of the incident.")
    district: str = Field(description="District of the incident.")
    reports: int = Field(ge=0, description="Reports folded into this order so far.")
    streets: list[IncidentStreet] = Field(default_factory=list, description="Streets, most reported first.")
    addresses: list[IncidentAddress] = Field(
        default_factory=list, max_length=500, description="Addresses, most reported first (at most 500)."
    )
    first_report_at: Timestamp = Field(description="When the first folded report was filed.")
    last_report_at: Timestamp = Field(description="When the latest folded report was filed.")
    report_ids: list[str] = Field(
        default_factory=list, max_length=1000, description="The folded reports (ids only), in filing order."
    )
    merged_work_order_ids: list[str] = Field(
        default_factory=list,
        description="This assignee's earlier per-report work orders closed as merged into this one: do not do "
        "them separately.",
    )
    draft_nl: str = Field(default="", description="What is known, in Dutch (the communication team's draft).")


class RecordedStatus(StrEnum):
    """A work order's status as the hub records it: an assignee's statuses, and `merged` (folded into an incident
    order by the hub, never sent by an assignee)."""

    ISSUED = "issued"
    ACCEPTED = "accepted"
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    REJECTED = "rejected"
    MERGED = "merged"


class WorkOrderIssued(Contract):
    """The hub issued a work order to one assignee (routing key `workorder.issued.<assignee>`).

    Delivered to the assignee's queue `workorders.<assignee>`. Carries only the fields the assignee's data policy allows:
    `reporter` is absent for assignees that may not see the citizen's contact data.
    """

    ce_type: ClassVar[str] = "be.sint-truiden.contact.workorder.issued.v1"
    routing_key: ClassVar[str] = "workorder.issued"
    # 1.1: the location may lack a street (a point the hub placed); the answers to the extra questions.
    # 1.2: when the report was filed (the period the statistics count the order in).
    # 1.3: `incident`, for an incident order (one order for every report of a live incident, per assignee).
    schema_minor_version: ClassVar[int] = 3

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "work_order_id": "wo-5c1f0a3e9b2d4e6f8a7b6c5d4e3f2a1b",
                    "report_id": "rep-2021-004711",
                    "assignee": "waste_company",
                    "category": "waste.missed_collection",
                    "category_name_nl": "Afval niet opgehaald",
                    "category_name_en": "Waste not collected",
                    "waste_fraction": "residual",
                    "issued_at": "2021-03-15T09:45:13+01:00",
                    "due_date": "2021-03-16",
                    "sla_working_days": 1,
                    "location": {
                        "street": "Stapelstraat",
                        "house_number": "12A",
                        "postcode": "3800",
                        "district": "Brustem",
                        "lat": 50.8167,
                        "lon": 5.1864,
                    },
                    "description": "Restafval niet opgehaald, hele straat staat nog buiten.",
                    "reporter": None,
                    "rule_id": "waste-to-waste-company",
                    "rules_version": "2026-11-28.1",
                    "attributes": {"waste_fraction": "residual", "out_since": "2021-03-15T07:00:00+01:00"},
                    "report_filed_at": "2021-03-15T09:42:00+01:00",
                    "incident": None,
                }
            ]
        }
    )

    work_order_id: str = Field(description="Deterministic id: the same report and assignee always give the same id.")
    report_id: str = Field(description="The report this work order is for.")
    assignee: str = Field(description="Code of the assignee in the assignee catalogue.", examples=["grid_operator"])
    category: str = Field(description="Category code of the report.")
    category_name_nl: str = Field(description="Dutch name of the category.")
    category_name_en: str = Field(description="English name of the category.")
    waste_fraction: str | None = Field(default=None, description="Waste fraction, for waste categories.")
    issued_at: Timestamp = Field(description="When the hub issued the work order.")
    due_date: dt.date = Field(
        description="Due date: the category's SLA in working days (Europe/Brussels, Belgian public holidays excluded)."
    )
    sla_working_days: int = Field(ge=0, description="SLA of the category in working days.")
    location: Location = Field(description="Where the problem is.")
    description: str = Field(description="The citizen's description of the problem.")
    reporter: ReporterContact | None = Field(
        default=None, description="Reporter's contact data, only if the assignee's data policy allows it."
    )
    rule_id: str = Field(description="The routing rule that chose this assignee.")
    rules_version: str = Field(description="Version of the routing rule file that was in force.")
    attributes: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="The reporter's answers to the category's extra questions, by question code. Since 1.1.",
    )
    report_filed_at: Timestamp | None = Field(
        default=None,
        description="When the citizen filed the report: the start of the SLA clock, and the period the statistics "
        "count the order in (a replayed year counts in that year). Since 1.2.",
    )
    incident: IncidentOrderDetails | None = Field(
        default=None,
        description="Set on an incident order: one order for all reports of a live incident (a missed round, a "
        "dark street), instead of one per report; `report_id` and `location` are then its first report's, and "
        "updates follow as `workorder.updated.<assignee>` when addresses join. Since 1.3.",
    )


class IncidentOrderUpdated(Contract):
    """More reports joined an incident order (routing key `workorder.updated.<assignee>`).

    Delivered like the order itself (the assignee's queue `workorders.<assignee>`, its webhook or e-mail), at most
    one per update interval while reports keep coming, and a last one when the incident is resolved. Each carries
    the whole picture (every street and address with its counts), so a missed update loses nothing.
    """

    ce_type: ClassVar[str] = "be.sint-truiden.contact.workorder.updated.v1"
    routing_key: ClassVar[str] = "workorder.updated"

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "update_id": "io-3f0c1d2e4b5a69788796a5b4c3d2e1f0/update/2",
                    "work_order_id": "io-3f0c1d2e4b5a69788796a5b4c3d2e1f0",
                    "assignee": "waste_company",
                    "seq": 2,
                    "updated_at": "2021-03-15T10:45:00+01:00",
                    "new_report_ids": ["rep-2021-004733", "rep-2021-004734"],
                    "unfolded_report_ids": [],
                    "incident": {
                        "incident_id": "inc-waste.missed_collection-brustem-2021-03-15T0900",
                        "incident_key": "waste.missed_collection|district:Brustem",
                        "district": "Brustem",
                        "reports": 23,
                        "streets": [
                            {"street": "Brustemsesteenweg", "reports": 15},
                            {"street": "Kerkstraat", "reports": 8},
                        ],
                        "addresses": [{"street": "Brustemsesteenweg", "house_number": "12", "reports": 3}],
                        "first_report_at": "2021-03-15T09:12:00+01:00",
                        "last_report_at": "2021-03-15T10:44:00+01:00",
                        "report_ids": ["rep-2021-004711"],
                        "merged_work_order_ids": [],
                        "draft_nl": "Het restafval in Brustem werd vandaag niet opgehaald.",
                    },
                }
            ]
        }
    )

    update_id: str = Field(description="Deterministic id of this update: `<work_order_id>/update/<seq>`.")
    work_order_id: str = Field(description="The incident order this update is about.")
    assignee: str = Field(description="Code of the assignee the order is for.")
    seq: int = Field(ge=1, description="1 for the first update, then 2, 3, ...: a higher one replaces a lower one.")
    updated_at: Timestamp = Field(description="Event time of the update (the latest report it includes).")
    new_report_ids: list[str] = Field(
        default_factory=list, max_length=1000, description="Reports that joined since the previous message."
    )
    unfolded_report_ids: list[str] = Field(
        default_factory=list,
        description="Reports staff took out of the incident: each has (again) its own work order.",
    )
    incident: IncidentOrderDetails = Field(description="The incident order as it stands now.")


class WorkOrderStatusChanged(Contract):
    """An assignee reports progress on a work order (routing key `workorder.status`)."""

    ce_type: ClassVar[str] = "be.sint-truiden.contact.workorder.status.v1"
    routing_key: ClassVar[str] = "workorder.status"

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "work_order_id": "wo-5c1f0a3e9b2d4e6f8a7b6c5d4e3f2a1b",
                    "assignee": "waste_company",
                    "status": "planned",
                    "changed_at": "2021-03-15T11:02:00+01:00",
                    "planned_for": "2021-03-16",
                    "reason": None,
                    "note": "Ophaalronde wordt morgen vroeg ingehaald.",
                }
            ]
        }
    )

    work_order_id: str = Field(description="The work order this update is about.")
    assignee: str = Field(description="Code of the assignee sending the update; must own the work order.")
    status: WorkOrderStatus = Field(description="New status of the work order.")
    changed_at: Timestamp = Field(description="When the status changed at the assignee.")
    planned_for: dt.date | None = Field(default=None, description="For `planned`: the date the work is planned for.")
    reason: str | None = Field(
        default=None, max_length=1000, description="For `rejected`: why the assignee rejects the work order."
    )
    note: str | None = Field(
        default=None, max_length=2000, description="Free text from the assignee, without personal data."
    )

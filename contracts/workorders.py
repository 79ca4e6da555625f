"""Work orders issued to city departments and external contractors, and their status updates."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import ClassVar

from pydantic import ConfigDict, Field

from contracts.base import Contract, Location, ReporterContact, Timestamp


class WorkOrderStatus(StrEnum):
    """Life cycle of a work order."""

    ISSUED = "issued"
    ACCEPTED = "accepted"
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    REJECTED = "rejected"


class WorkOrderIssued(Contract):
    """The hub issued a work order to one assignee (routing key `workorder.issued.<assignee>`).

    Delivered to the assignee's queue `workorders.<assignee>`. Carries only the fields the assignee's data policy allows:
    `reporter` is absent for assignees that may not see the citizen's contact data.
    """

    ce_type: ClassVar[str] = "be.sint-truiden.contact.workorder.issued.v1"
    routing_key: ClassVar[str] = "workorder.issued"
    # 1.1: the location may lack a street (a point the hub placed); the answers to the extra questions.
    # 1.2: when the report was filed (the period the statistics count the order in).
    schema_minor_version: ClassVar[int] = 2

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

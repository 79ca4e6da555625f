"""What the hub makes of work-order progress: applied status changes and escalations of unacknowledged orders."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from pydantic import ConfigDict, Field

from contracts.base import Contract, Timestamp
from contracts.workorders import RecordedStatus, WorkOrderStatus


class WorkOrderStatusApplied(Contract):
    """The hub validated and applied a status change (routing key `workorder.status.applied`).

    Only changes that passed the state machine and the sender checks are published, so statistics and the spike
    lifecycle can count completions without re-validating. `workorder.status` (what assignees send) may hold
    refused changes; this one never does.
    """

    ce_type: ClassVar[str] = "be.sint-truiden.contact.workorder.status.applied.v1"
    routing_key: ClassVar[str] = "workorder.status.applied"
    # 1.1: `merged` (a per-report order the hub folded into an incident order, and back when staff unfold it),
    # and `merged_into`.
    schema_minor_version: ClassVar[int] = 1

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "work_order_id": "wo-5c1f0a3e9b2d4e6f8a7b6c5d4e3f2a1b",
                    "report_id": "rep-2021-004711",
                    "assignee": "waste_company",
                    "category": "waste.missed_collection",
                    "waste_fraction": "residual",
                    "district": "Brustem",
                    "previous_status": "planned",
                    "status": "done",
                    "changed_at": "2021-03-16T07:40:00+01:00",
                    "applied_at": "2021-03-16T07:40:02+01:00",
                    "planned_for": None,
                    "reason": None,
                    "report_closed": True,
                    "merged_into": None,
                }
            ]
        }
    )

    work_order_id: str = Field(description="The work order whose status changed.")
    report_id: str = Field(description="The report the work order is for.")
    assignee: str = Field(description="Code of the assignee that sent the change.", examples=["grid_operator"])
    category: str = Field(description="Category code of the report.")
    waste_fraction: str | None = Field(default=None, description="Waste fraction, for waste categories.")
    district: str | None = Field(default=None, description="District of the report, for the spike lifecycle.")
    previous_status: RecordedStatus = Field(description="Status before the change (`merged` since 1.1).")
    status: RecordedStatus = Field(
        description="Status after the change: an assignee's, or (since 1.1) `merged` when the hub folded the order "
        "into an incident order, and `issued` again when staff took its report out."
    )
    changed_at: Timestamp = Field(description="When the status changed at the assignee (as the assignee said).")
    applied_at: Timestamp = Field(description="When the hub applied the change.")
    planned_for: dt.date | None = Field(default=None, description="For `planned`: the date the work is planned for.")
    reason: str | None = Field(default=None, description="For `rejected`: the assignee's reason.")
    report_closed: bool = Field(
        default=False, description="True when this change closed the report: none of its work orders is still open."
    )
    merged_into: str | None = Field(
        default=None, description="For `merged`: the incident order this order was folded into. Since 1.1."
    )


class WorkOrderEscalated(Contract):
    """A work order was not acknowledged in time (routing key `workorder.escalated.<department>`).

    Sent once per work order to the city department responsible for the assignee's contract (ContactCenter triage
    for departments' own orders), on that department's queue `workorders.<department>`.
    """

    ce_type: ClassVar[str] = "be.sint-truiden.contact.workorder.escalated.v1"
    routing_key: ClassVar[str] = "workorder.escalated"

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "work_order_id": "wo-5c1f0a3e9b2d4e6f8a7b6c5d4e3f2a1b",
                    "report_id": "rep-2021-004711",
                    "assignee": "waste_company",
                    "assignee_name": "Intergemeentelijke afvalintercommunale",
                    "escalated_to": "milieudienst",
                    "category": "waste.missed_collection",
                    "status": "issued",
                    "issued_at": "2021-03-15T09:45:13+01:00",
                    "ack_hours": 8.0,
                    "ack_due_at": "2021-03-15T17:45:13+01:00",
                    "escalated_at": "2021-03-15T17:46:00+01:00",
                    "due_date": "2021-03-16",
                }
            ]
        }
    )

    work_order_id: str = Field(description="The work order that was not acknowledged.")
    report_id: str = Field(description="The report the work order is for.")
    assignee: str = Field(description="Code of the assignee that did not acknowledge it.")
    assignee_name: str = Field(description="Display name of that assignee.")
    escalated_to: str = Field(description="Code of the department that receives this escalation.")
    category: str = Field(description="Category code of the report.")
    status: WorkOrderStatus = Field(description="Status of the work order when it was escalated.")
    issued_at: Timestamp = Field(description="When the hub issued the work order.")
    ack_hours: float = Field(ge=0, description="The assignee's acknowledgement time, in hours.")
    ack_due_at: Timestamp = Field(description="When the acknowledgement was due.")
    escalated_at: Timestamp = Field(description="When the hub escalated.")
    due_date: dt.date = Field(description="Due date of the work order.")

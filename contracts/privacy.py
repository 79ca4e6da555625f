"""Personal data: the hub tells assignees when a reporter's contact data they received was erased."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import ConfigDict, Field

from contracts.base import Contract, Timestamp


class ErasureReason(StrEnum):
    """Why the contact data was erased."""

    REQUEST = "request"
    RETENTION = "retention"


class ReporterDataErased(Contract):
    """The hub erased a reporter's contact data; erase the copy you received (routing key `workorder.reporter_erased.<assignee>`).

    Sent once per work order that carried the reporter's name, phone or e-mail (only assignees whose data policy
    allows contact data ever received it), on the assignee's queue `workorders.<assignee>`. It carries no personal
    data itself: the work order id says which copy to erase.
    """

    ce_type: ClassVar[str] = "be.sint-truiden.contact.workorder.reporter_erased.v1"
    routing_key: ClassVar[str] = "workorder.reporter_erased"

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "erasure_id": "era-7d0c7f8e1b5a4c3e9f2d6a1b0c9e8f7a",
                    "work_order_id": "wo-5c1f0a3e9b2d4e6f8a7b6c5d4e3f2a1b",
                    "report_id": "rep-2021-004711",
                    "assignee": "technische_dienst",
                    "reason": "request",
                    "erased_at": "2021-04-02T10:15:00+02:00",
                }
            ]
        }
    )

    erasure_id: str = Field(description="Id of the erasure in the hub's records (`privacy_erasures`), for audits.")
    work_order_id: str = Field(description="The work order whose copy of the reporter's contact data must be erased.")
    report_id: str = Field(description="The report the work order is for.")
    assignee: str = Field(description="Code of the assignee that received the contact data.", examples=["milieudienst"])
    reason: ErasureReason = Field(
        description="`request`: the citizen asked for erasure; `retention`: the retention period after closing ran out."
    )
    erased_at: Timestamp = Field(description="When the hub erased its own copies.")

"""Calls logged by the city's telephony system."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import ConfigDict, Field

from contracts.base import Contract, Timestamp


class CallTopic(StrEnum):
    """What the citizen called about."""

    APPOINTMENT = "appointment"
    INFORMATION = "information"
    REPORT = "report"
    OTHER = "other"


class CallOutcome(StrEnum):
    """How the call ended."""

    ANSWERED_AT_ONCE = "answered_at_once"
    REFERRED = "referred"
    APPOINTMENT_MADE = "appointment_made"
    REPORT_FILED = "report_filed"
    ABANDONED = "abandoned"


class CallLogged(Contract):
    """A call to the ContactCenter ended and was logged by the telephony system (routing key `call.logged`)."""

    ce_type: ClassVar[str] = "be.sint-truiden.contact.call.logged.v1"
    routing_key: ClassVar[str] = "call.logged"

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "call_id": "call-2021-000123",
                    "started_at": "2021-03-15T09:42:00+01:00",
                    "duration_seconds": 184,
                    "topic": "report",
                    "subject": "waste.missed_collection",
                    "outcome": "report_filed",
                    "district": "Brustem",
                    "related_report_id": "rep-2021-004711",
                    "agent_id": "agent-3",
                }
            ]
        }
    )

    call_id: str = Field(min_length=1, max_length=64, description="Unique id of the call in the telephony system.")
    started_at: Timestamp = Field(description="When the call was answered (or started ringing, if abandoned).")
    duration_seconds: int = Field(
        ge=0, le=86_400, description="Handle time of the call in seconds (0 for an abandoned call)."
    )
    topic: CallTopic = Field(description="What the citizen called about: appointment, information, report or other.")
    subject: str = Field(
        min_length=1,
        max_length=100,
        description=(
            "Subject of the call: a service such as `civil_affairs`, `recycling_park`, `environmental_permit`, "
            "`criminal_record_extract`, or, for reports, a report category code such as `waste.missed_collection`."
        ),
        examples=["civil_affairs", "waste.missed_collection"],
    )
    outcome: CallOutcome = Field(
        description="How the call ended: answered at once, referred, appointment made, report filed, or abandoned."
    )
    district: str | None = Field(
        default=None, max_length=100, description="District the call is about, if the agent noted it."
    )
    related_report_id: str | None = Field(
        default=None, max_length=64, description="Report filed during this call, if any."
    )
    agent_id: str | None = Field(
        default=None, max_length=64, description="Pseudonymous id of the agent who took the call."
    )

"""Incident spikes detected for the communication team."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import ConfigDict, Field

from contracts.base import Contract, Timestamp


class SpikeDetected(Contract):
    """Many calls and reports about one incident: the communication team should broadcast (routing key `spike.detected`)."""

    ce_type: ClassVar[str] = "be.sint-truiden.contact.spike.detected.v1"
    routing_key: ClassVar[str] = "spike.detected"

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "incident_id": "inc-waste.missed_collection.residual-brustem-2021-03-15",
                    "incident_key": "waste.missed_collection.residual|district:Brustem",
                    "category": "waste.missed_collection",
                    "waste_fraction": "residual",
                    "district": "Brustem",
                    "street": None,
                    "window_minutes": 60,
                    "calls_in_window": 9,
                    "reports_in_window": 6,
                    "baseline": 0.4,
                    "p_value": 1.2e-9,
                    "first_seen_at": "2021-03-15T09:12:00+01:00",
                    "last_seen_at": "2021-03-15T10:03:00+01:00",
                    "detected_at": "2021-03-15T10:03:00+01:00",
                    "affected_streets": ["Stapelstraat", "Kerkstraat"],
                    "sample_report_ids": ["rep-2021-004711", "rep-2021-004712"],
                    "assignees_notified": ["waste_company"],
                    "draft_nl": "Het restafval in Brustem werd vandaag niet opgehaald. De afvalintercommunale is verwittigd.",
                    "draft_en": "Residual waste in Brustem was not collected today. The waste company has been informed.",
                    "update": False,
                }
            ]
        }
    )

    incident_id: str = Field(description="Stable id of the incident; the same incident always has the same id.")
    incident_key: str = Field(description="Category (with waste fraction) and area the counts are kept for.")
    category: str = Field(description="Category code.")
    waste_fraction: str | None = Field(default=None, description="Waste fraction, for waste categories.")
    district: str = Field(description="District of the incident.")
    street: str | None = Field(
        default=None, description="Street, for a street-level incident; absent for a district-wide one."
    )
    window_minutes: int = Field(ge=1, description="Length of the sliding window the counts are for.")
    calls_in_window: int = Field(ge=0, description="Calls about this incident key in the window.")
    reports_in_window: int = Field(ge=0, description="Reports about this incident key in the window.")
    baseline: float = Field(
        ge=0, description="Expected count in such a window, learned from history (weekday and hour seasonality)."
    )
    p_value: float = Field(
        ge=0, le=1, description="Poisson tail probability of seeing this many or more under the baseline."
    )
    first_seen_at: Timestamp = Field(description="Event time of the first call or report of the incident.")
    last_seen_at: Timestamp = Field(description="Event time of the latest call or report counted.")
    detected_at: Timestamp = Field(description="Event time at which the spike was detected.")
    affected_streets: list[str] = Field(default_factory=list, description="Streets named in the reports.")
    sample_report_ids: list[str] = Field(
        default_factory=list, max_length=10, description="A few report ids (no personal data)."
    )
    assignees_notified: list[str] = Field(
        default_factory=list, description="Assignees that already received work orders."
    )
    draft_nl: str = Field(description="Draft broadcast text in Dutch, for the website and social media.")
    draft_en: str = Field(description="Draft broadcast text in English.")
    update: bool = Field(default=False, description="True for an update of a live alert whose counts grew.")


class SpikeResolved(Contract):
    """An incident went quiet; sent once per incident (routing key `spike.resolved`)."""

    ce_type: ClassVar[str] = "be.sint-truiden.contact.spike.resolved.v1"
    routing_key: ClassVar[str] = "spike.resolved"

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "incident_id": "inc-waste.missed_collection.residual-brustem-2021-03-15",
                    "incident_key": "waste.missed_collection.residual|district:Brustem",
                    "category": "waste.missed_collection",
                    "district": "Brustem",
                    "street": None,
                    "detected_at": "2021-03-15T10:03:00+01:00",
                    "resolved_at": "2021-03-15T13:03:00+01:00",
                    "total_calls": 14,
                    "total_reports": 9,
                }
            ]
        }
    )

    incident_id: str = Field(description="Id of the incident, as in its SpikeDetected.")
    incident_key: str = Field(description="Category and area of the incident.")
    category: str = Field(description="Category code.")
    district: str = Field(description="District of the incident.")
    street: str | None = Field(default=None, description="Street, for a street-level incident.")
    detected_at: Timestamp = Field(description="When the spike was detected (event time).")
    resolved_at: Timestamp = Field(description="Event time at which the quiet period ended.")
    total_calls: int = Field(ge=0, description="Calls counted for the incident in all.")
    total_reports: int = Field(ge=0, description="Reports counted for the incident in all.")


class BroadcastChannel(StrEnum):
    """Where the communication team posted a notice."""

    WEBSITE = "website"
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    X = "x"
    APP = "app"
    NEWSLETTER = "newsletter"
    OTHER = "other"


class IncidentBroadcast(Contract):
    """The communication team posted a notice about an incident (routing key `spike.broadcast`).

    Published by whoever posts it (`hub alerts broadcast`, or the team's own tools), so the figures can show the
    calls falling off after the notice went out. Carries no personal data: the incident and when and where.
    """

    ce_type: ClassVar[str] = "be.sint-truiden.contact.spike.broadcast.v1"
    routing_key: ClassVar[str] = "spike.broadcast"

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "incident_id": "inc-waste.missed_collection.residual-brustem-2021-03-15",
                    "broadcast_at": "2021-03-15T10:40:00+01:00",
                    "channels": ["website", "facebook"],
                }
            ]
        }
    )

    incident_id: str = Field(min_length=1, max_length=200, description="Id of the incident, as in its SpikeDetected.")
    broadcast_at: Timestamp = Field(description="When the notice went out.")
    channels: list[BroadcastChannel] = Field(min_length=1, description="Where it was posted.")

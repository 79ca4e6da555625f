"""What a simulation produces: its events (calls and reports) and the incidents planted in it."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from contracts import (
    CallLogged,
    ReportFiled,
)

# --------------------------------------------------------------------------------------------------------
# The public result types


@dataclass(frozen=True)
class SimEvent:
    """One message to publish, with the event time and the CloudEvents id it is published under."""

    at: dt.datetime
    routing_key: str
    message: CallLogged | ReportFiled
    event_id: str

    @property
    def subject(self) -> str:
        """The entity the event is about: the call id or the report id (CloudEvents `subject`)."""
        return self.message.call_id if isinstance(self.message, CallLogged) else self.message.report_id


@dataclass(frozen=True)
class PlantedIncident:
    """Ground truth for the spike benchmark: one burst the simulator planted in the traffic."""

    incident_id: str
    kind: str
    category: str
    waste_fraction: str | None
    district: str
    streets: tuple[str, ...]
    started_at: dt.datetime
    broadcast_at: dt.datetime | None
    ended_at: dt.datetime
    calls: int
    reports: int
    # Exactly which messages belong to the incident, for precision/recall in the spike benchmark.
    call_ids: tuple[str, ...] = ()
    report_ids: tuple[str, ...] = ()

    @property
    def incident_key(self) -> str:
        """Category (with fraction) and district, the way the spike detector keys its counts."""
        category = f"{self.category}.{self.waste_fraction}" if self.waste_fraction else self.category
        return f"{category}|district:{self.district}"


@dataclass(frozen=True)
class Scenario:
    """A simulated stretch of traffic: the events in time order and the incidents planted in them."""

    events: list[SimEvent]
    incidents: list[PlantedIncident] = field(default_factory=list)
    seed: int | None = None
    start: dt.date | None = None
    days: int | None = None

    def calls(self) -> list[CallLogged]:
        return [e.message for e in self.events if isinstance(e.message, CallLogged)]

    def reports(self) -> list[ReportFiled]:
        return [e.message for e in self.events if isinstance(e.message, ReportFiled)]

    def counts(self) -> dict[str, int]:
        """Flat counters: `calls`, `reports`, `incidents`, and per `calls.topic.*`, `calls.outcome.*`,
        `calls.subject.*`, `reports.category.*`, `reports.channel.*`, `incidents.kind.*`."""
        counts: Counter[str] = Counter(calls=0, reports=0, incidents=len(self.incidents))
        for event in self.events:
            message = event.message
            if isinstance(message, CallLogged):
                counts["calls"] += 1
                counts[f"calls.topic.{message.topic.value}"] += 1
                counts[f"calls.outcome.{message.outcome.value}"] += 1
                counts[f"calls.subject.{message.subject}"] += 1
            else:
                counts["reports"] += 1
                counts[f"reports.category.{message.category}"] += 1
                counts[f"reports.channel.{message.channel.value}"] += 1
                if message.reporter is not None:
                    counts["reports.with_contact"] += 1
        for incident in self.incidents:
            counts[f"incidents.kind.{incident.kind}"] += 1
            counts["incidents.calls"] += incident.calls
            counts["incidents.reports"] += incident.reports
        return dict(counts)

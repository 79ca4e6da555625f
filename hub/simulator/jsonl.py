"""The simulator's file format: JSON Lines, one record per line, gzip-compressed when the name ends in `.gz`.

A simulated year is generated once and replayed many times (benchmarks, demos), so the file carries
everything a replay needs: the exact messages, their event times and CloudEvents ids, and the planted
incidents as ground truth for the spike benchmark. Records:

    {"record": "incident", "incident_id": ..., "kind": ..., "category": ..., ...}
    {"record": "event", "at": "2021-03-15T09:45:12+01:00", "routing_key": "report.filed",
     "type": "be.sint-truiden.contact.report.filed.v1", "event_id": "...", "data": {...message...}}

Incidents come first, then the events in time order. `data` is the message exactly as published
(`model_dump(mode="json")`), so a line can be checked against the contract's JSON Schema.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from contracts import CallLogged, ReportFiled
from hub.simulator.events import PlantedIncident, Scenario, SimEvent

MESSAGE_TYPES: dict[str, type[CallLogged] | type[ReportFiled]] = {
    CallLogged.routing_key: CallLogged,
    ReportFiled.routing_key: ReportFiled,
}


class SimulationFileError(ValueError):
    """A line of a simulation file is not a valid record."""


def _open(path: Path, *, write: bool) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "wt" if write else "rt", encoding="utf-8", newline="\n")
    return path.open("w" if write else "r", encoding="utf-8", newline="\n")


def _event_record(event: SimEvent) -> dict[str, Any]:
    return {
        "record": "event",
        "at": event.at.isoformat(),
        "routing_key": event.routing_key,
        "type": event.message.ce_type,
        "event_id": event.event_id,
        "data": event.message.model_dump(mode="json"),
    }


def _incident_record(incident: PlantedIncident) -> dict[str, Any]:
    def iso(moment: dt.datetime | None) -> str | None:
        return moment.isoformat() if moment is not None else None

    return {
        "record": "incident",
        "incident_id": incident.incident_id,
        "kind": incident.kind,
        "category": incident.category,
        "waste_fraction": incident.waste_fraction,
        "district": incident.district,
        "streets": list(incident.streets),
        "started_at": iso(incident.started_at),
        "broadcast_at": iso(incident.broadcast_at),
        "ended_at": iso(incident.ended_at),
        "calls": incident.calls,
        "reports": incident.reports,
        "call_ids": list(incident.call_ids),
        "report_ids": list(incident.report_ids),
    }


def write_jsonl(path: Path, scenario_or_events: Scenario | Iterable[SimEvent]) -> int:
    """Write a scenario (events and incidents) or just events; returns the number of events written."""
    incidents: list[PlantedIncident] = []
    events: Iterable[SimEvent]
    if isinstance(scenario_or_events, Scenario):
        incidents, events = scenario_or_events.incidents, scenario_or_events.events
    else:
        events = scenario_or_events
    written = 0
    with _open(path, write=True) as out:
        for incident in incidents:
            out.write(json.dumps(_incident_record(incident), ensure_ascii=False) + "\n")
        for event in events:
            out.write(json.dumps(_event_record(event), ensure_ascii=False) + "\n")
            written += 1
    return written


def _aware(value: Any, line: int, name: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise SimulationFileError(f"line {line}: {name} has no UTC offset")
    return moment


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with _open(path, write=False) as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SimulationFileError(f"{path}:{number}: not JSON: {exc}") from exc
            if not isinstance(record, dict):
                raise SimulationFileError(f"{path}:{number}: a record is a JSON object")
            yield number, record


def _parse_event(record: dict[str, Any], line: int) -> SimEvent:
    routing_key = record.get("routing_key")
    model = MESSAGE_TYPES.get(str(routing_key))
    if model is None:
        raise SimulationFileError(f"line {line}: unknown routing key {routing_key!r}")
    try:
        message = model.model_validate(record["data"])
        return SimEvent(
            at=_aware(record["at"], line, "at"),
            routing_key=model.routing_key,
            message=message,
            event_id=str(record["event_id"]),
        )
    except (KeyError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise SimulationFileError(f"line {line}: invalid event: {exc}") from exc


def _parse_incident(record: dict[str, Any], line: int) -> PlantedIncident:
    try:
        broadcast = record.get("broadcast_at")
        return PlantedIncident(
            incident_id=str(record["incident_id"]),
            kind=str(record["kind"]),
            category=str(record["category"]),
            waste_fraction=record.get("waste_fraction"),
            district=str(record["district"]),
            streets=tuple(str(s) for s in record["streets"]),
            started_at=_aware(record["started_at"], line, "started_at"),
            broadcast_at=_aware(broadcast, line, "broadcast_at") if broadcast is not None else None,
            ended_at=_aware(record["ended_at"], line, "ended_at"),
            calls=int(record["calls"]),
            reports=int(record["reports"]),
            call_ids=tuple(str(i) for i in record.get("call_ids", ())),
            report_ids=tuple(str(i) for i in record.get("report_ids", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SimulationFileError(f"line {line}: invalid incident: {exc}") from exc


def read_jsonl(path: Path) -> list[SimEvent]:
    """The events of a simulation file, in file order, each validated against its contract."""
    return [_parse_event(record, line) for line, record in _records(path) if record.get("record", "event") == "event"]


def read_scenario(path: Path) -> Scenario:
    """Events and planted incidents of a simulation file."""
    events: list[SimEvent] = []
    incidents: list[PlantedIncident] = []
    for line, record in _records(path):
        kind = record.get("record", "event")
        if kind == "event":
            events.append(_parse_event(record, line))
        elif kind == "incident":
            incidents.append(_parse_incident(record, line))
        else:
            raise SimulationFileError(f"line {line}: unknown record {kind!r}")
    return Scenario(events=events, incidents=incidents)

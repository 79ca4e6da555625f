"""`hub simulate`: a realistic, deterministic traffic simulator for the contact center.

`traffic` generates calls, reports and planted incidents (pure); `jsonl` stores them in a file;
`publisher` sends them to the broker as a city system would.
"""

from hub.simulator.jsonl import read_jsonl, read_scenario, write_jsonl
from hub.simulator.publisher import declare_city_events, publish
from hub.simulator.traffic import (
    PlantedIncident,
    Scenario,
    SimEvent,
    TrafficProfile,
    describe,
    expected_calls,
    expected_online_reports,
    load_calendar,
    load_profile,
    simulate,
    simulate_year,
)

__all__ = [
    "PlantedIncident",
    "Scenario",
    "SimEvent",
    "TrafficProfile",
    "declare_city_events",
    "describe",
    "expected_calls",
    "expected_online_reports",
    "load_calendar",
    "load_profile",
    "publish",
    "read_jsonl",
    "read_scenario",
    "simulate",
    "simulate_year",
    "write_jsonl",
]

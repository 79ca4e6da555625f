"""`hub simulate`: a realistic, deterministic traffic simulator for the contact center.

`traffic` generates calls, reports and planted incidents (pure: `profile` reads what to generate, `slots` lays out
the time grid, `generator` makes the random choices, `events` holds the results); `jsonl` stores them in a file;
`publisher` sends them to the broker as a city system would.
"""

from hub.simulator.events import PlantedIncident, Scenario, SimEvent
from hub.simulator.jsonl import read_jsonl, read_scenario, write_jsonl
from hub.simulator.profile import TrafficProfile, load_calendar, load_profile
from hub.simulator.publisher import declare_city_events, publish
from hub.simulator.slots import expected_calls, expected_online_reports
from hub.simulator.traffic import describe, simulate, simulate_year

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

"""The router's settings: its routing rules (`HUB_RULES_FILE`; the composition root gives the default) and the
incident orders' update interval (`HUB_INCIDENT_UPDATE_MINUTES`) and timer (`HUB_INCIDENT_UPDATE_TICK_S`)."""

from __future__ import annotations

from pydantic import Field, FilePath

from infra.settings import SettingsGroup


class RouterSettings(SettingsGroup):
    rules_file: FilePath = Field(description="Routing rules, evaluated in order.")
    incident_update_minutes: int = Field(
        default=30,
        ge=1,
        le=1440,
        description="An incident order's assignee gets at most one update per this many minutes of event time "
        "while reports join (and a last one when the incident is resolved).",
    )
    incident_update_tick_s: float = Field(
        default=60.0,
        gt=0,
        description="The router's timer: how often it sends the incident orders' updates that are due when no further "
        "report came (the interval passed on the wall clock; live only, a replay's updates follow its messages).",
    )

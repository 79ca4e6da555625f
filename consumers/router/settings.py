"""The router's settings: its routing rules (`HUB_RULES_FILE`; the composition root gives the default) and the
incident orders' update interval (`HUB_INCIDENT_UPDATE_MINUTES`)."""

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

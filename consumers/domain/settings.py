"""Where the shared domain model is read from. The composition root gives the defaults (the files it ships)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, FilePath

from infra.settings import SettingsGroup


class DomainSettings(SettingsGroup):
    """The catalogues and the city calendar (`HUB_CATEGORIES_FILE`, `HUB_ASSIGNEES_FILE`, `HUB_CALENDAR_FILE`).

    The calendar is the city's one time zone: SLAs, office hours, statistics, spike buckets and alert texts use it.
    """

    categories_file: FilePath = Field(description="Category catalogue.")
    assignees_file: FilePath = Field(description="Assignee catalogue.")
    calendar_file: FilePath = Field(description="Opening hours, public holidays and the city's time zone.")
    boundaries_file: Path = Field(
        description="District boundaries (GeoJSON, WGS84): places reports that carry a point and no district "
        "(`hub places import` writes it)."
    )
    places_file: FilePath = Field(description="The districts' centres and postcodes, streets with coordinates.")

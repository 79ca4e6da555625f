"""The router's settings: its routing rules (`HUB_RULES_FILE`; the composition root gives the default)."""

from __future__ import annotations

from pydantic import Field, FilePath

from infra.settings import SettingsGroup


class RouterSettings(SettingsGroup):
    rules_file: FilePath = Field(description="Routing rules, evaluated in order.")

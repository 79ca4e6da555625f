"""Personal-data retention (`HUB_PRIVACY_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from infra.settings import SettingsGroup


class PrivacySettings(SettingsGroup):
    model_config = SettingsConfigDict(env_prefix="HUB_PRIVACY_")

    retention_days: int = Field(
        default=365,
        ge=1,
        description="Days after a report was closed before its reporter's contact data is erased everywhere.",
    )
    retention_interval_s: float = Field(
        default=3600.0, gt=0, description="How often the retention job looks for contact data past its retention."
    )
    batch_size: int = Field(default=200, ge=1, le=5_000, description="Reports erased per retention transaction.")

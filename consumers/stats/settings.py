"""The statistics consumer's settings (`HUB_STATS_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from infra.settings import SettingsGroup


class StatsSettings(SettingsGroup):
    model_config = SettingsConfigDict(env_prefix="HUB_STATS_")

    batch_max_wait_ms: float = Field(
        default=50.0,
        ge=0,
        le=5_000,
        description="How long a batch of the statistics consumer waits to fill: nobody waits on a figure for "
        "milliseconds, and fuller batches cost less CPU (counter rows are summed per transaction).",
    )

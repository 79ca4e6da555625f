"""The spikes consumer's settings (`HUB_SPIKES_*`; the composition root gives the default `spikes.yaml`)."""

from __future__ import annotations

from pydantic import Field, FilePath
from pydantic_settings import SettingsConfigDict

from infra.settings import SettingsGroup


class SpikesSettings(SettingsGroup):
    model_config = SettingsConfigDict(env_prefix="HUB_SPIKES_")

    file: FilePath = Field(description="Spike detection per category (its time zone is the city calendar's).")
    warmup_days: float = Field(
        default=0.0,
        ge=0,
        description="Days of event time after counting began during which nothing is judged (0: judge from the first "
        "message, against the prior of spikes.yaml blended with the learned baseline).",
    )
    tick_s: float = Field(
        default=30.0,
        gt=0,
        description="The spikes timer: how often updates and resolutions are stepped without a message (live only).",
    )
    live_lag_s: float = Field(
        default=900.0,
        gt=0,
        description="Event time within this of the wall clock: live (the timer advances it); further behind: a replay.",
    )
    max_future_skew_s: float = Field(
        default=3600.0,
        gt=0,
        description="A message stamped further than this ahead of the clock is counted but does not advance event time.",
    )

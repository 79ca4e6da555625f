"""The Open311 server's settings group (`HUB_OPEN311_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from infra.settings import SettingsGroup


class Open311Settings(SettingsGroup):
    """Read from the environment with the prefix `HUB_OPEN311_` (or a `.env` file)."""

    model_config = SettingsConfigDict(env_prefix="HUB_OPEN311_")

    jurisdiction_id: str = Field(
        default="sint-truiden.be",
        description="The jurisdiction this server answers for; a request naming another one gets 404.",
    )
    resend_window_s: float = Field(
        default=3600.0,
        ge=0,
        description="An identical POST from the same client within this many seconds gets the same "
        "service_request_id instead of a second report (Open311 clients resend after a time-out).",
    )
    max_requests: int = Field(default=1000, ge=1, le=10_000, description="At most this many requests per GET.")
    max_days: int = Field(default=90, ge=1, description="start_date and end_date may be at most this far apart.")
    contact: str = Field(
        default="ContactCenter Sint-Truiden, contactcenter@sint-truiden.be, +32 11 70 14 14",
        description="Discovery: whom developers contact.",
    )
    key_service: str = Field(
        default="Vraag een API-sleutel aan bij het ContactCenter (hub open311 keys add NAME).",
        description="Discovery: how a client gets an API key.",
    )
    public_url: str = Field(
        default="http://localhost:8080/open311/v2",
        description="Discovery: the endpoint's public URL.",
    )

"""The notifier's settings: the communication team's e-mail and chat (`HUB_COMMS_*`; SMTP server: `HUB_SMTP_*`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from infra.settings import CommaList, Schedule, SettingsGroup, comma_list


class NotifierSettings(SettingsGroup):
    model_config = SettingsConfigDict(env_prefix="HUB_COMMS_")

    email_to: CommaList = Field(
        default_factory=list,
        description="Communication team's address(es) for alerts, comma separated (or JSON); none: no e-mail.",
    )
    email_from: str = Field(default="meldingspieken@stad.example.be", description="Sender of alert e-mails.")
    webhook_url: SecretStr | None = Field(
        default=None,
        description="Chat incoming webhook (Slack, Mattermost, or a Teams Workflows webhook); none: no chat.",
    )
    webhook_format: Literal["text", "teams"] = Field(
        default="text",
        description='The chat webhook\'s body: text (JSON {"text": ...}: Slack, Mattermost, Rocket.Chat) or teams (a '
        "Microsoft Teams Workflows message with an Adaptive Card).",
    )
    console_url: str | None = Field(
        default=None,
        description="The console's public address (e.g. https://hub.stad.example.be): alert e-mails and chat messages "
        "link to the incident's page under it; none: no links.",
    )
    timeout_s: float = Field(default=10.0, gt=0, le=30, description="Timeout of one chat webhook request.")
    retry_schedule_s: Schedule = Field(
        default_factory=lambda: [5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 3600.0, 3600.0],
        description="Delays before each retry of an alert e-mail or chat message (jitter added); then it is exhausted.",
    )
    poll_interval_s: float = Field(default=1.0, gt=0, description="How often due alert deliveries are looked for.")

    @field_validator("email_to", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return comma_list(value)

    @field_validator("email_to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if "@" not in a]
        if bad:
            raise ValueError(f"not an e-mail address: {', '.join(bad)}")
        return value

    @field_validator("console_url")
    @classmethod
    def _console(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("the console's address must be an http(s) URL")
        return value or None

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("the chat webhook must be an http(s) URL")
        return value

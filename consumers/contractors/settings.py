"""Contractors' settings: broker users, status back, webhook and e-mail deliveries (`HUB_*`, names unchanged)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from infra.settings import CommaList, Schedule, SettingsGroup, comma_list


class ContractorsSettings(SettingsGroup):
    model_config = SettingsConfigDict(env_prefix="HUB_")

    contractor_user_prefix: str = Field(
        default="contractor-",
        min_length=1,
        description="Broker user of a contractor: this prefix and its assignee code.",
    )
    status_trusted_users: CommaList = Field(
        default_factory=list,
        description="Broker users (besides the hub's own) that may send status updates for any assignee "
        "(JSON or comma separated).",
    )
    broker_admin: Literal["auto", "http", "rabbitmqctl"] = Field(
        default="auto", description="How `hub contractors provision` talks to RabbitMQ: management API or rabbitmqctl."
    )
    rabbitmq_management_url: str = Field(
        default="http://localhost:15672", description="RabbitMQ management API (credentials from HUB_AMQP_URL)."
    )
    webhook_secrets: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Per webhook assignee its signing secrets, newest first (two during a rotation): {"code": ["whsec_..."]}.',
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=30, description="Timeout of one webhook request.")
    delivery_schedule_s: Schedule = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0],
        description="Delays before each retry of a webhook or e-mail delivery (jitter is added); then it is exhausted.",
    )
    delivery_concurrency: int = Field(default=4, ge=1, le=64, description="Requests in flight per endpoint.")
    delivery_poll_interval_s: float = Field(default=1.0, gt=0, description="How often due deliveries are looked for.")
    circuit_failure_threshold: int = Field(
        default=5, ge=1, description="Consecutive failures that open an endpoint's circuit breaker."
    )
    circuit_cooldown_s: float = Field(
        default=60.0, gt=0, description="How long an open circuit waits before one probe request (half-open)."
    )
    escalation_interval_s: float = Field(
        default=60.0, gt=0, description="How often unacknowledged work orders are looked for."
    )
    reminder_interval_s: float = Field(
        default=60.0, gt=0, description="How often open work orders at their due date are looked for (reminders)."
    )
    reminder_hour: int = Field(
        default=8, ge=0, le=23, description="Hour (city time) of the due date from which an open order is reminded."
    )
    smtp_from: str = Field(default="werkbonnen@stad.example.be", description="Sender of e-mailed work orders.")
    contractor_link_secrets: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Per e-mail assignee the secrets its one-click answer links are signed with, newest first "
        '(several during a rotation): {"code": ["..."]}. Without one its e-mails carry no links.',
    )
    contractor_link_ttl_days: float = Field(
        default=30.0, gt=0, le=365, description="How long an e-mailed answer link works after the e-mail was sent."
    )
    public_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Where contractors reach `hub serve` (the answer links in e-mails start with it).",
    )

    @field_validator("status_trusted_users", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return comma_list(value)

    @field_validator("webhook_secrets", "contractor_link_secrets")
    @classmethod
    def _secrets(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        empty = sorted(code for code, secrets in value.items() if not secrets or not all(s.strip() for s in secrets))
        if empty:
            raise ValueError(f"no (or a blank) signing secret for {', '.join(empty)}")
        return value

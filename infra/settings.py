"""The base of every settings group, and the groups of the generic mechanisms (consuming, relay, SMTP, metrics).

Each group reads its own `HUB_*` environment variables (and `.env`); the composition root (`hub/settings.py`)
composes the groups of `infra` and of every consumer into one `Settings`. Nothing else reads the environment.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, PositiveFloat, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

from infra.settings_sources import FileVariablesSource, secrets_directory


class SettingsGroup(BaseSettings):
    """One group of settings. An unknown keyword is an error (the environment may hold anything).

    Sources, first wins: keywords, the environment, `HUB_<NAME>_FILE` (the file's content: for secrets), `.env`, the
    directory `HUB_SECRETS_DIR` names (one file per variable, as Docker and Kubernetes mount secrets), the default.
    """

    model_config = SettingsConfigDict(env_prefix="HUB_", env_file=".env", extra="ignore")

    def __init__(self, **values: Any) -> None:
        unknown = sorted(k for k in values if k not in type(self).model_fields and not k.startswith("_"))
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown setting(s) {', '.join(unknown)}{self._hint(unknown)}")
        super().__init__(**values)

    @classmethod
    def _hint(cls, unknown: list[str]) -> str:
        return ""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        directory = secrets_directory()
        secrets = (SecretsSettingsSource(settings_cls, secrets_dir=directory),) if directory is not None else ()
        return (init_settings, env_settings, FileVariablesSource(settings_cls), dotenv_settings, *secrets)

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Field name -> the environment variable it is read from."""
        prefix = cls.model_config.get("env_prefix", "")
        return {name: f"{prefix}{name}".upper() for name in cls.model_fields}


def comma_list(value: Any) -> Any:
    """A list from the environment: JSON (`["a", "b"]`) or comma separated (`a, b`); blank items dropped."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]
"""A list of strings that the environment gives as JSON or comma separated (validated with `comma_list`)."""

Schedule = Annotated[list[PositiveFloat], Field(min_length=1)]


class ConsumingSettings(SettingsGroup):
    """How every consumer takes its deliveries: prefetch, batches, retries, dead-lettering (`infra.consuming`)."""

    prefetch: int = Field(default=256, ge=1, le=10_000, description="Deliveries in flight per consumer.")
    batch_max_size: int = Field(
        default=128, ge=1, le=5_000, description="Deliveries committed together in one transaction."
    )
    batch_max_wait_ms: float = Field(
        default=4.0, ge=0, le=1_000, description="How long a batch waits to fill before it commits."
    )
    retry_delay_ms: int = Field(
        default=5_000, ge=100, description="Delay before a delivery that failed transiently comes back."
    )
    max_attempts: int = Field(
        default=5, ge=1, description="Attempts for an unexpected error before the delivery is dead-lettered."
    )
    max_transient_attempts: int = Field(
        default=17_280,
        ge=1,
        description="Attempts for transient errors (database or broker down): a day at the default delay.",
    )
    delivery_limit: int = Field(
        default=20, ge=2, description="Quorum-queue redeliveries (consumer crashes) before dead-lettering."
    )
    graceful_timeout_s: float = Field(
        default=15.0, ge=0, description="How long in-flight deliveries may finish on shutdown."
    )
    inbox_retention_days: int = Field(
        default=8,
        ge=7,
        description="How long processed message ids are kept for deduplication (at least 7 days: the replay horizon).",
    )
    inbox_prune_interval_s: float = Field(
        default=3600.0, gt=0, description="How often `hub run` deletes inbox rows older than the retention."
    )


class RelaySettings(SettingsGroup):
    """The outbox relay (`infra.relay`)."""

    model_config = SettingsConfigDict(env_prefix="HUB_RELAY_")

    batch_size: int = Field(default=500, ge=1, description="Outbox rows published per relay round.")
    poll_interval_s: float = Field(
        default=0.5, gt=0, description="How often the relay sweeps for rows its hand-off did not publish."
    )
    sweep_after_s: float = Field(
        default=10.0,
        gt=0,
        description="How long after its commit an unpublished outbox row is left to its writer's hand-off before "
        "any relay (another replica's, the standalone one's) sweeps it up.",
    )


class SmtpServerSettings(SettingsGroup):
    """The SMTP server for contractors' work orders and the communication team's alerts (`infra.mailer`)."""

    model_config = SettingsConfigDict(env_prefix="HUB_SMTP_")

    host: str | None = Field(default=None, description="SMTP server; none: no e-mail is sent (it waits).")
    port: int = Field(default=25, ge=1, le=65535, description="SMTP port.")
    user: str | None = Field(default=None, description="SMTP user, if the server wants a login.")
    password: SecretStr | None = Field(default=None, description="SMTP password.")
    starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS.")
    timeout_s: float = Field(default=30.0, gt=0, le=120, description="Timeout of one SMTP session.")

    @field_validator("host")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class MetricsSettings(SettingsGroup):
    """`/metrics` of each `hub run` process (`infra.metrics`)."""

    model_config = SettingsConfigDict(env_prefix="HUB_METRICS_")

    port: int = Field(
        default=9464, ge=0, le=65535, description="Port of `/metrics` (Prometheus) of each `hub run` process; 0: off."
    )
    host: str = Field(
        default="127.0.0.1",
        description="Address the metrics endpoint listens on: this machine only unless configured (0.0.0.0: every "
        "address, e.g. inside a container whose port is not published).",
    )
    faststream: bool = Field(
        default=False,
        description="Also serve FastStream's own per-message metrics (`faststream_*`: per exchange and routing key, "
        "sizes, in flight). They cost about 6 % of a consumer's CPU; the hub's `hub_*` metrics are always served.",
    )
    sample_interval_s: float = Field(
        default=5.0, gt=0, description="How often sampled metrics (outbox backlog) are refreshed."
    )

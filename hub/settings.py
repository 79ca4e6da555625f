"""The hub's settings: one group per consumer and per generic mechanism, composed here. Nothing else reads the
environment.

Every group reads the same `HUB_*` variables as before the groups existed (`HUB_RETRY_DELAY_MS`,
`HUB_SPIKES_WARMUP_DAYS`, `HUB_COMMS_EMAIL_TO`, ...): a group's prefix and its field name make the variable. In code
a setting is `settings.<group>.<name>` (`settings.consuming.retry_delay_ms`, `settings.spikes.warmup_days`); the
old flat keyword (`Settings(retry_delay_ms=...)`) is an error that names its new place. The city's time zone is the
calendar's (`calendar.yaml`), the only source: there is no `HUB_TIMEZONE`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from pydantic import Field, FilePath, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings.exceptions import SettingsError

from consumers.console.settings import AuthSettings
from consumers.contractors.settings import ContractorsSettings
from consumers.domain.settings import DomainSettings
from consumers.notifier.settings import NotifierSettings
from consumers.open311.settings import Open311Settings
from consumers.privacy.settings import PrivacySettings
from consumers.router.settings import RouterSettings
from consumers.spikes.settings import SpikesSettings
from consumers.stats.settings import StatsSettings
from infra.settings import ConsumingSettings, MetricsSettings, RelaySettings, SettingsGroup, SmtpServerSettings
from infra.settings_sources import (
    SECRETS_DIR_VARIABLE,
    known_variables,
    production_problems,
    unknown_variable_warnings,
    unknown_variables,
)

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent / "config"

__all__ = [
    "CONFIG_DIR",
    "AuthSettings",
    "ConsumingSettings",
    "ContractorsSettings",
    "HubDomainSettings",
    "HubRouterSettings",
    "HubSpikesSettings",
    "MetricsSettings",
    "NotifierSettings",
    "Open311Settings",
    "PrivacySettings",
    "RelaySettings",
    "Settings",
    "SmtpServerSettings",
    "StatsSettings",
    "get_settings",
]


# The groups whose defaults are files the hub ships in hub/config/.
class HubDomainSettings(DomainSettings):
    categories_file: FilePath = Field(default=CONFIG_DIR / "categories.yaml", description="Category catalogue.")
    assignees_file: FilePath = Field(default=CONFIG_DIR / "assignees.yaml", description="Assignee catalogue.")
    calendar_file: FilePath = Field(
        default=CONFIG_DIR / "calendar.yaml", description="Opening hours, public holidays and the city's time zone."
    )
    boundaries_file: Path = Field(
        default=CONFIG_DIR / "district_boundaries.geojson",
        description="District boundaries (GeoJSON, WGS84): places reports that carry a point and no district. "
        "The shipped file is an approximation; `hub places import OFFICIAL.geojson` replaces it.",
    )
    places_file: FilePath = Field(
        default=CONFIG_DIR / "places.yaml",
        description="The districts' centres and postcodes, streets with coordinates.",
    )


class HubRouterSettings(RouterSettings):
    rules_file: FilePath = Field(
        default=CONFIG_DIR / "routing_rules.yaml", description="Routing rules, evaluated in order."
    )


class HubSpikesSettings(SpikesSettings):
    file: FilePath = Field(default=CONFIG_DIR / "spikes.yaml", description="Spike detection per category.")


class Settings(SettingsGroup):
    """Validated at start-up; the defaults run on a laptop (SQLite file, RabbitMQ on localhost)."""

    env: Literal["development", "production"] = Field(
        default="development",
        description="production: refuse RabbitMQ's guest user and a database URL without a password or with a "
        "well-known one (at start-up, naming the setting, never the password).",
    )
    amqp_url: str = Field(
        default="amqp://guest:guest@localhost:5672/",
        description="RabbitMQ connection URL; for a cluster, every node's URL separated by commas (same credentials "
        "and vhost): connections open on the first node that answers and move to the next when theirs goes.",
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///hub.sqlite3",
        description="SQLAlchemy async URL: the embedded default is a SQLite file; production uses postgresql+asyncpg://...",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="Root log level."
    )
    log_json: bool = Field(default=True, description="Structured JSON log lines.")

    domain: DomainSettings = Field(default_factory=HubDomainSettings, description="Catalogues and the city calendar.")
    consuming: ConsumingSettings = Field(default_factory=ConsumingSettings, description="Every consumer's deliveries.")
    relay: RelaySettings = Field(default_factory=RelaySettings, description="The outbox relay.")
    smtp: SmtpServerSettings = Field(default_factory=SmtpServerSettings, description="The SMTP server.")
    metrics: MetricsSettings = Field(default_factory=MetricsSettings, description="`/metrics` of `hub run`.")
    router: RouterSettings = Field(default_factory=HubRouterSettings, description="The router.")
    stats: StatsSettings = Field(default_factory=StatsSettings, description="The statistics consumer.")
    contractors: ContractorsSettings = Field(default_factory=ContractorsSettings, description="Contractors.")
    spikes: SpikesSettings = Field(default_factory=HubSpikesSettings, description="Spike detection.")
    notifier: NotifierSettings = Field(default_factory=NotifierSettings, description="Alerts to the comms team.")
    privacy: PrivacySettings = Field(default_factory=PrivacySettings, description="Personal-data retention.")
    open311: Open311Settings = Field(default_factory=Open311Settings, description="The Open311 server.")
    auth: AuthSettings = Field(default_factory=AuthSettings, description="The console's access: sessions, SSO.")

    @field_validator(
        "domain",
        "consuming",
        "relay",
        "smtp",
        "metrics",
        "router",
        "stats",
        "contractors",
        "spikes",
        "notifier",
        "privacy",
        "open311",
        "auth",
        mode="before",
    )
    @classmethod
    def _group(cls, value: object, info: ValidationInfo) -> object:
        """A group given as a mapping is made like its default: the rest from the environment, the shipped files."""
        factory = cls.model_fields[str(info.field_name)].default_factory
        if isinstance(value, Mapping) and isinstance(factory, type):
            return factory(**value)
        return value

    @field_validator("amqp_url")
    @classmethod
    def _amqp(cls, value: str) -> str:
        nodes = [node.strip() for node in value.split(",")]
        if not all(node.startswith(("amqp://", "amqps://")) for node in nodes):
            raise ValueError("must be an amqp:// or amqps:// URL, or several separated by commas (a cluster's nodes)")
        return value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must be a sqlite+aiosqlite:// or postgresql+asyncpg:// URL (async drivers)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @classmethod
    def _hint(cls, unknown: list[str]) -> str:
        """Where a flat setting of before the groups went: `retry_delay_ms` -> `consuming.retry_delay_ms`."""
        moved: dict[str, str] = {}
        for group_name, info in cls.model_fields.items():
            group = info.annotation
            if isinstance(group, type) and issubclass(group, SettingsGroup):
                for field_name, env in group.env_names().items():
                    moved[env.removeprefix("HUB_").lower()] = f"{group_name}.{field_name}"
        hints = [f"{name} is now {moved[name]}" for name in unknown if name in moved]
        return f" ({'; '.join(hints)}; the HUB_* variables are unchanged)" if hints else ""

    @field_validator("env", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _production(self) -> Settings:
        if self.env == "production":
            problems = production_problems(self.amqp_url, self.database_url)
            if problems:
                raise ValueError("HUB_ENV=production refuses default credentials: " + "; ".join(problems))
        return self


# Variables with the HUB_ prefix that are no setting: the test suite's own.
_NOT_SETTINGS = ("HUB_TEST_",)


def unknown_setting_warnings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> list[str]:
    """A line for each HUB_* variable of the environment (and of `.env`) that no setting reads: a typo would leave
    the default in force without a word. Each names the closest known variable."""
    variables = dict(os.environ if environ is None else environ)
    if env_file is not None and env_file.is_file():
        variables |= {k: v or "" for k, v in dotenv_values(env_file).items() if k.upper().startswith("HUB_")}
    known = known_variables(Settings, extra=[SECRETS_DIR_VARIABLE])
    return unknown_variable_warnings(unknown_variables(variables, known, "HUB_", ignore_prefixes=_NOT_SETTINGS))


def refusal(exc: Exception) -> str:
    """Why settings were refused, in one line naming each variable, without a secret value (pydantic's own text
    would show a URL with its password)."""
    from hub.failures import settings_problems

    if isinstance(exc, ValidationError):
        return settings_problems(exc, Settings) or str(exc.error_count())
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, validated at start-up: refused settings end it with their reasons (exit
    status 3, `hub.failures.SETTINGS`, one line, no traceback); unknown HUB_* variables are logged as warnings."""
    try:
        settings = Settings()
    except (ValidationError, SettingsError, TypeError) as exc:
        from hub.failures import SETTINGS

        print(f"hub: settings refused: {refusal(exc)}", file=sys.stderr)
        raise SystemExit(SETTINGS) from None
    for line in unknown_setting_warnings():
        log.warning(line)
    return settings

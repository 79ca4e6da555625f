"""The hub's one settings class. Nothing else in the code base reads the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

CONFIG_DIR = Path(__file__).resolve().parent / "config"


class Settings(BaseSettings):
    """Validated at start-up; the defaults run on a laptop (SQLite file, RabbitMQ on localhost)."""

    model_config = SettingsConfigDict(env_prefix="HUB_", env_file=".env", extra="ignore")

    amqp_url: str = Field(default="amqp://guest:guest@localhost:5672/", description="RabbitMQ connection URL.")
    database_url: str = Field(
        default="sqlite+aiosqlite:///hub.sqlite3",
        description="SQLAlchemy async URL: the embedded default is a SQLite file; production uses postgresql+asyncpg://...",
    )
    timezone: str = Field(
        default="Europe/Brussels", description="The city's time zone: SLAs, office hours, statistics."
    )

    categories_file: Path = Field(default=CONFIG_DIR / "categories.yaml", description="Category catalogue.")
    assignees_file: Path = Field(default=CONFIG_DIR / "assignees.yaml", description="Assignee catalogue.")
    rules_file: Path = Field(
        default=CONFIG_DIR / "routing_rules.yaml", description="Routing rules, evaluated in order."
    )
    calendar_file: Path = Field(default=CONFIG_DIR / "calendar.yaml", description="Opening hours and public holidays.")

    # Consumption
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

    # Outbox relay
    relay_batch_size: int = Field(default=500, ge=1, description="Outbox rows published per relay round.")
    relay_poll_interval_s: float = Field(
        default=0.5, gt=0, description="How often the relay looks for rows when not woken."
    )

    inbox_retention_days: int = Field(
        default=8, ge=7, description="How long processed message ids are kept for deduplication."
    )
    log_level: str = Field(default="INFO", description="Root log level.")
    log_json: bool = Field(default=True, description="Structured JSON log lines.")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

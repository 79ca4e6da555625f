"""The hub's one settings class. Nothing else in the code base reads the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
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
    boundaries_file: Path = Field(
        default=CONFIG_DIR / "district_boundaries.geojson",
        description="District boundaries (GeoJSON, WGS84): places reports that carry a point and no district. "
        "The shipped file is an approximation; `hub places import OFFICIAL.geojson` replaces it.",
    )
    places_file: Path = Field(
        default=CONFIG_DIR / "places.yaml",
        description="The districts' centres and postcodes, streets with coordinates.",
    )

    # Consumption
    prefetch: int = Field(default=256, ge=1, le=10_000, description="Deliveries in flight per consumer.")
    batch_max_size: int = Field(
        default=128, ge=1, le=5_000, description="Deliveries committed together in one transaction."
    )
    batch_max_wait_ms: float = Field(
        default=4.0, ge=0, le=1_000, description="How long a batch waits to fill before it commits."
    )
    stats_batch_max_wait_ms: float = Field(
        default=50.0,
        ge=0,
        le=5_000,
        description="The same for the statistics consumer: nobody waits on a figure for milliseconds, and fuller "
        "batches cost less CPU (counter rows are summed per transaction).",
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
        default=0.5, gt=0, description="How often the relay sweeps for rows its hand-off did not publish."
    )
    relay_sweep_after_s: float = Field(
        default=10.0,
        gt=0,
        description="How long after its commit an unpublished outbox row is left to its writer's hand-off before "
        "any relay (another replica's, the standalone one's) sweeps it up.",
    )

    inbox_retention_days: int = Field(
        default=8,
        ge=7,
        description="How long processed message ids are kept for deduplication (at least 7 days: the replay horizon).",
    )
    inbox_prune_interval_s: float = Field(
        default=3600.0, gt=0, description="How often `hub run` deletes inbox rows older than the retention."
    )
    log_level: str = Field(default="INFO", description="Root log level.")
    log_json: bool = Field(default=True, description="Structured JSON log lines.")

    # Contractors: broker users, status back, webhooks, e-mail
    contractor_user_prefix: str = Field(
        default="contractor-", description="Broker user of a contractor: this prefix and its assignee code."
    )
    status_trusted_users: list[str] = Field(
        default_factory=list,
        description="Broker users (besides the hub's own) that may send status updates for any assignee.",
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
    delivery_schedule_s: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0],
        min_length=1,
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
    smtp_host: str | None = Field(default=None, description="SMTP server for e-mailed work orders; none: not sent.")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP port.")
    smtp_user: str | None = Field(default=None, description="SMTP user, if the server wants a login.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_from: str = Field(default="werkbonnen@stad.example.be", description="Sender of e-mailed work orders.")
    smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_timeout_s: float = Field(default=30.0, gt=0, le=120, description="Timeout of one SMTP session.")

    # Spikes: detection, and delivery to the communication team (SMTP server: HUB_SMTP_* above)
    spikes_file: Path = Field(default=CONFIG_DIR / "spikes.yaml", description="Spike detection per category.")
    spikes_warmup_days: float = Field(
        default=0.0,
        ge=0,
        description="Days of event time after counting began during which nothing is judged (0: judge from the first "
        "message, against the prior of spikes.yaml blended with the learned baseline).",
    )
    spikes_tick_s: float = Field(
        default=30.0,
        gt=0,
        description="The spikes timer: how often updates and resolutions are stepped without a message (live only).",
    )
    spikes_live_lag_s: float = Field(
        default=900.0,
        gt=0,
        description="Event time within this of the wall clock: live (the timer advances it); further behind: a replay.",
    )
    spikes_max_future_skew_s: float = Field(
        default=3600.0,
        gt=0,
        description="A message stamped further than this ahead of the clock is counted but does not advance event time.",
    )
    comms_email_to: str | None = Field(
        default=None, description="Communication team's address(es) for alerts, comma separated; none: no e-mail."
    )
    comms_email_from: str = Field(default="meldingspieken@stad.example.be", description="Sender of alert e-mails.")
    comms_webhook_url: SecretStr | None = Field(
        default=None, description="Chat incoming webhook (Slack, Mattermost, Teams style, JSON {text}); none: no chat."
    )
    comms_timeout_s: float = Field(default=10.0, gt=0, le=30, description="Timeout of one chat webhook request.")
    comms_retry_schedule_s: list[float] = Field(
        default_factory=lambda: [5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0, 3600.0, 3600.0],
        min_length=1,
        description="Delays before each retry of an alert e-mail or chat message (jitter added); then it is exhausted.",
    )
    comms_poll_interval_s: float = Field(
        default=1.0, gt=0, description="How often due alert deliveries are looked for."
    )

    # Operations: metrics, personal-data retention
    metrics_port: int = Field(
        default=9464, ge=0, le=65535, description="Port of `/metrics` (Prometheus) of each `hub run` process; 0: off."
    )
    metrics_host: str = Field(default="0.0.0.0", description="Address the metrics endpoint listens on.")
    metrics_faststream: bool = Field(
        default=False,
        description="Also serve FastStream's own per-message metrics (`faststream_*`: per exchange and routing key, "
        "sizes, in flight). They cost about 6 % of a consumer's CPU; the hub's `hub_*` metrics are always served.",
    )
    metrics_sample_interval_s: float = Field(
        default=5.0, gt=0, description="How often sampled metrics (outbox backlog) are refreshed."
    )
    privacy_retention_days: int = Field(
        default=365,
        ge=1,
        description="Days after a report was closed before its reporter's contact data is erased everywhere.",
    )
    privacy_retention_interval_s: float = Field(
        default=3600.0, gt=0, description="How often the retention job looks for contact data past its retention."
    )
    privacy_batch_size: int = Field(
        default=200, ge=1, le=5_000, description="Reports erased per retention transaction."
    )

    @property
    def comms_email_recipients(self) -> list[str]:
        """HUB_COMMS_EMAIL_TO split on commas (spikes, issue 7)."""
        return [a.strip() for a in (self.comms_email_to or "").split(",") if a.strip()]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

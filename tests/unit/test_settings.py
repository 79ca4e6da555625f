"""Settings: nested groups that read the same HUB_* variables as before, validated, with one time zone."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from consumers.spikes.config import SpikeConfigError, load_spike_config
from hub.settings import CONFIG_DIR, Settings
from infra.settings import SettingsGroup

pytestmark = pytest.mark.unit

# Every variable the hub read before its settings were grouped (HUB_TIMEZONE is gone: the calendar's is the one).
ENV_NAMES = {
    "HUB_AMQP_URL", "HUB_DATABASE_URL", "HUB_LOG_LEVEL", "HUB_LOG_JSON",
    "HUB_CATEGORIES_FILE", "HUB_ASSIGNEES_FILE", "HUB_CALENDAR_FILE", "HUB_BOUNDARIES_FILE", "HUB_PLACES_FILE", "HUB_RULES_FILE",
    "HUB_PREFETCH", "HUB_BATCH_MAX_SIZE", "HUB_BATCH_MAX_WAIT_MS", "HUB_STATS_BATCH_MAX_WAIT_MS", "HUB_RETRY_DELAY_MS",
    "HUB_MAX_ATTEMPTS", "HUB_MAX_TRANSIENT_ATTEMPTS", "HUB_DELIVERY_LIMIT", "HUB_GRACEFUL_TIMEOUT_S",
    "HUB_INBOX_RETENTION_DAYS", "HUB_RELAY_BATCH_SIZE", "HUB_RELAY_POLL_INTERVAL_S", "HUB_RELAY_SWEEP_AFTER_S",
    "HUB_CONTRACTOR_USER_PREFIX", "HUB_STATUS_TRUSTED_USERS", "HUB_BROKER_ADMIN", "HUB_RABBITMQ_MANAGEMENT_URL",
    "HUB_WEBHOOK_SECRETS", "HUB_WEBHOOK_TIMEOUT_S", "HUB_DELIVERY_SCHEDULE_S", "HUB_DELIVERY_CONCURRENCY",
    "HUB_DELIVERY_POLL_INTERVAL_S", "HUB_CIRCUIT_FAILURE_THRESHOLD", "HUB_CIRCUIT_COOLDOWN_S",
    "HUB_ESCALATION_INTERVAL_S", "HUB_SMTP_HOST", "HUB_SMTP_PORT", "HUB_SMTP_USER", "HUB_SMTP_PASSWORD",
    "HUB_SMTP_FROM", "HUB_SMTP_STARTTLS", "HUB_SMTP_TIMEOUT_S", "HUB_SPIKES_FILE", "HUB_SPIKES_WARMUP_DAYS",
    "HUB_SPIKES_MAX_FUTURE_SKEW_S", "HUB_COMMS_EMAIL_TO", "HUB_COMMS_EMAIL_FROM", "HUB_COMMS_WEBHOOK_URL",
    "HUB_COMMS_TIMEOUT_S", "HUB_COMMS_RETRY_SCHEDULE_S", "HUB_COMMS_POLL_INTERVAL_S", "HUB_METRICS_PORT",
    "HUB_COMMS_WEBHOOK_FORMAT", "HUB_COMMS_CONSOLE_URL",
    "HUB_METRICS_HOST", "HUB_METRICS_FASTSTREAM", "HUB_METRICS_SAMPLE_INTERVAL_S", "HUB_PRIVACY_RETENTION_DAYS",
    "HUB_PRIVACY_RETENTION_INTERVAL_S", "HUB_PRIVACY_BATCH_SIZE", "HUB_INBOX_PRUNE_INTERVAL_S", "HUB_SPIKES_TICK_S",
    "HUB_SPIKES_LIVE_LAG_S",
}  # fmt: skip
# Added with their groups since.
ENV_NAMES |= {
    "HUB_OPEN311_JURISDICTION_ID", "HUB_OPEN311_RESEND_WINDOW_S", "HUB_OPEN311_MAX_REQUESTS", "HUB_OPEN311_MAX_DAYS",
    "HUB_OPEN311_CONTACT", "HUB_OPEN311_KEY_SERVICE", "HUB_OPEN311_PUBLIC_URL",
    "HUB_ENV",
    "HUB_CONTRACTOR_LINK_SECRETS", "HUB_CONTRACTOR_LINK_TTL_DAYS", "HUB_PUBLIC_URL", "HUB_REMINDER_INTERVAL_S",
    "HUB_REMINDER_HOUR",
    "HUB_AUTH_SESSION_HOURS", "HUB_AUTH_IDLE_MINUTES", "HUB_AUTH_COOKIE_SECURE", "HUB_AUTH_SECRET",
    "HUB_AUTH_THROTTLE_WINDOW_S", "HUB_AUTH_THROTTLE_USER_FAILURES", "HUB_AUTH_THROTTLE_ADDRESS_FAILURES",
    "HUB_AUTH_TRUSTED_HEADER", "HUB_AUTH_TRUSTED_PROXIES", "HUB_AUTH_CONTACT_ROLES",
    "HUB_INCIDENT_UPDATE_MINUTES", "HUB_INCIDENT_UPDATE_TICK_S",
}  # fmt: skip


def env_names() -> set[str]:
    names = set()
    for name, info in Settings.model_fields.items():
        group = info.annotation
        if isinstance(group, type) and issubclass(group, SettingsGroup):
            names |= set(group.env_names().values())
        else:
            names.add(f"HUB_{name.upper()}")
    return names


def test_the_groups_read_every_variable_of_before_and_no_other() -> None:
    assert env_names() == ENV_NAMES


def test_a_group_reads_its_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_RETRY_DELAY_MS", "700")
    monkeypatch.setenv("HUB_SPIKES_WARMUP_DAYS", "2")
    monkeypatch.setenv("HUB_COMMS_EMAIL_TO", "comms@stad.example.be, pers@stad.example.be")
    monkeypatch.setenv("HUB_STATUS_TRUSTED_USERS", '["ops"]')
    settings = Settings()
    assert settings.consuming.retry_delay_ms == 700
    assert settings.spikes.warmup_days == 2
    assert settings.spikes.file == CONFIG_DIR / "spikes.yaml"
    assert settings.notifier.email_to == ["comms@stad.example.be", "pers@stad.example.be"]
    assert settings.contractors.status_trusted_users == ["ops"]


def test_a_flat_keyword_of_before_names_its_group() -> None:
    with pytest.raises(TypeError, match=r"retry_delay_ms is now consuming\.retry_delay_ms"):
        Settings(retry_delay_ms=500)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "values",
    [
        {"amqp_url": "http://localhost"},
        {"database_url": "postgresql://x/y"},
        {"notifier": {"retry_schedule_s": [5, 0]}},
        {"notifier": {"email_to": "not an address"}},
        {"contractors": {"webhook_secrets": {"waste_company": []}}},
        {"domain": {"calendar_file": "/nonexistent/calendar.yaml"}},
    ],
)
def test_invalid_settings_are_refused_at_start_up(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**values)  # type: ignore[arg-type]


def test_spikes_take_the_calendar_time_zone_and_refuse_another(tmp_path: Path) -> None:
    assert load_spike_config(CONFIG_DIR / "spikes.yaml", timezone="Europe/Amsterdam").timezone == "Europe/Amsterdam"
    other = tmp_path / "spikes.yaml"
    other.write_text((CONFIG_DIR / "spikes.yaml").read_text() + "timezone: Europe/London\n")
    with pytest.raises(SpikeConfigError, match="calendar"):
        load_spike_config(other, timezone="Europe/Brussels")

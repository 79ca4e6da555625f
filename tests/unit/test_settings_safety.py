"""Safe settings at start-up (issue 12): production refuses default credentials, secrets come from files, and a
mistyped HUB_* variable is reported with the closest known name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.settings import Settings, unknown_setting_warnings
from infra.settings_sources import known_variables
from tests.unit.test_settings import ENV_NAMES

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
GOOD_AMQP = "amqp://hub:Xq7-Rt2_pLm9@rabbitmq:5672/"
GOOD_DB = "postgresql+asyncpg://hub:Vb4_Ns8-kWq1@postgres:5432/hub"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No HUB_* variable of the test run, no .env of the working directory."""
    for name in list(os.environ):
        if name.upper().startswith("HUB_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("amqp_url", "database_url", "refused"),
    [
        ("amqp://guest:guest@localhost:5672/", GOOD_DB, "HUB_AMQP_URL logs in as RabbitMQ's default user 'guest'"),
        ("amqp://localhost:5672/", GOOD_DB, "'guest'"),
        ("amqp://hub:hub@rabbitmq:5672/", GOOD_DB, "HUB_AMQP_URL has an empty or well-known password"),
        (GOOD_AMQP, "postgresql+asyncpg://hub@postgres:5432/hub", "HUB_DATABASE_URL has no password"),
        (GOOD_AMQP, "postgresql+asyncpg://postgres:postgres@postgres:5432/hub", "HUB_DATABASE_URL"),
        (GOOD_AMQP, "postgresql+asyncpg://hub:@postgres:5432/hub", "HUB_DATABASE_URL"),
    ],
)
def test_production_refuses_default_credentials(
    monkeypatch: pytest.MonkeyPatch, amqp_url: str, database_url: str, refused: str
) -> None:
    monkeypatch.setenv("HUB_ENV", "production")
    monkeypatch.setenv("HUB_AMQP_URL", amqp_url)
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    with pytest.raises(ValidationError, match=refused):
        Settings()
    # The same credentials are fine on a laptop.
    monkeypatch.setenv("HUB_ENV", "development")
    assert Settings().amqp_url == amqp_url


def test_production_takes_real_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_ENV", "production")
    monkeypatch.setenv("HUB_AMQP_URL", GOOD_AMQP)
    monkeypatch.setenv("HUB_DATABASE_URL", GOOD_DB)
    settings = Settings()
    assert (settings.env, settings.amqp_url, settings.database_url) == ("production", GOOD_AMQP, GOOD_DB)
    assert Settings(amqp_url=GOOD_AMQP).env == "production"
    with pytest.raises(ValidationError, match="guest"):
        Settings(amqp_url="amqp://guest:guest@localhost:5672/")


def test_secrets_are_read_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    files = {
        "amqp": GOOD_AMQP + "\n",
        "db": GOOD_DB + "\n",
        "smtp": "mail-password\n",
        "webhooks": '{"waste_company": ["whsec_dGVzdHNlY3JldA=="]}\n',
    }
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    monkeypatch.setenv("HUB_ENV", "production")
    monkeypatch.setenv("HUB_AMQP_URL_FILE", str(tmp_path / "amqp"))
    monkeypatch.setenv("HUB_DATABASE_URL_FILE", str(tmp_path / "db"))
    monkeypatch.setenv("HUB_SMTP_PASSWORD_FILE", str(tmp_path / "smtp"))
    monkeypatch.setenv("HUB_WEBHOOK_SECRETS_FILE", str(tmp_path / "webhooks"))
    settings = Settings()
    assert (settings.amqp_url, settings.database_url) == (GOOD_AMQP, GOOD_DB)
    assert settings.smtp.password is not None
    assert settings.smtp.password.get_secret_value() == "mail-password"
    assert settings.contractors.webhook_secrets == {"waste_company": ["whsec_dGVzdHNlY3JldA=="]}
    # HUB_SPIKES_FILE stays what it always was: the path of spikes.yaml, not a file holding the spikes group.
    spikes = tmp_path / "spikes.yaml"
    spikes.write_text(Path(Settings().spikes.file).read_text())
    monkeypatch.setenv("HUB_SPIKES_FILE", str(spikes))
    assert Path(Settings().spikes.file) == spikes
    # Both a value and its file: refused, naming both.
    monkeypatch.setenv("HUB_SMTP_PASSWORD", "other")
    with pytest.raises(Exception, match="HUB_SMTP_PASSWORD_FILE and HUB_SMTP_PASSWORD are both set"):
        Settings()


def test_secrets_are_read_from_a_secrets_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "hub_amqp_url").write_text(GOOD_AMQP + "\n")
    (secrets / "hub_database_url").write_text(GOOD_DB + "\n")
    (secrets / "hub_smtp_password").write_text("mail-password\n")
    monkeypatch.setenv("HUB_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("HUB_ENV", "production")
    settings = Settings()
    assert (settings.amqp_url, settings.database_url) == (GOOD_AMQP, GOOD_DB)
    assert settings.smtp.password is not None
    assert settings.smtp.password.get_secret_value() == "mail-password"


def test_every_setting_is_a_known_variable() -> None:
    known = known_variables(Settings)
    assert ENV_NAMES | {"HUB_ENV"} <= known
    assert {"HUB_AMQP_URL_FILE", "HUB_SMTP_PASSWORD_FILE", "HUB_WEBHOOK_SECRETS_FILE"} <= known
    assert unknown_setting_warnings({name: "x" for name in ENV_NAMES | {"HUB_SECRETS_DIR"}}) == []


def test_mistyped_variables_are_reported_with_the_closest_known_name(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("HUB_SMTP_HOTS=mail.example.be\nRABBITMQ_PASSWORD=x\n")
    environ = {"HUB_AMQP_ULR": "amqp://x/", "HUB_RETRY_DELAY_M": "100", "HUB_TEST_AMQP_URL": "amqp://x/", "PATH": "/"}
    assert unknown_setting_warnings(environ, env_file) == [
        "unknown setting HUB_AMQP_ULR: ignored (did you mean HUB_AMQP_URL?)",
        "unknown setting HUB_RETRY_DELAY_M: ignored (did you mean HUB_RETRY_DELAY_MS?)",
        "unknown setting HUB_SMTP_HOTS: ignored (did you mean HUB_SMTP_HOST?)",
    ]


def test_metrics_listen_on_this_machine_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().metrics.host == "127.0.0.1"
    monkeypatch.setenv("HUB_METRICS_HOST", "0.0.0.0")
    assert Settings().metrics.host == "0.0.0.0"


def hub(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("HUB_")}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], env=clean | env, cwd=cwd, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def test_the_hub_starts_with_a_warning_and_refuses_production_defaults_without_a_traceback(tmp_path: Path) -> None:
    env = {"HUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}", "HUB_RETRY_DELAY_M": "100",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    done = hub("db", "upgrade", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "unknown setting HUB_RETRY_DELAY_M: ignored (did you mean HUB_RETRY_DELAY_MS?)" in done.stderr

    secret = "Sup3r-S3cret-pw"
    env |= {"HUB_ENV": "production", "HUB_AMQP_URL": f"amqp://guest:{secret}@localhost:5672/"}
    done = hub("db", "upgrade", env=env, cwd=tmp_path)
    assert done.returncode == 3  # hub.failures.SETTINGS
    assert "hub: settings refused" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "default user 'guest'" in done.stderr
    assert "Traceback" not in done.stderr
    assert secret not in done.stderr + done.stdout

"""The generic pieces of safe settings (issue 12): secrets from files, unknown variables, production credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SecretsSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from infra.settings_sources import (
    FileVariablesSource,
    known_variables,
    production_problems,
    secrets_directory,
    unknown_variable_warnings,
    unknown_variables,
)

pytestmark = pytest.mark.unit


class Demo(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore")

    amqp_url: str = "amqp://guest:guest@localhost:5672/"
    smtp_password: SecretStr | None = None
    webhook_secrets: dict[str, list[str]] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        directory = secrets_directory(variable="DEMO_SECRETS_DIR")
        secrets = (SecretsSettingsSource(settings_cls, secrets_dir=directory),) if directory else ()
        return (init_settings, env_settings, FileVariablesSource(settings_cls), dotenv_settings, *secrets)


def test_a_setting_is_read_from_the_file_its_file_variable_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "password").write_text("s3cr3t-from-a-file\n")
    (tmp_path / "secrets.json").write_text('{"waste_company": ["whsec_abc"]}\n')
    monkeypatch.setenv("DEMO_SMTP_PASSWORD_FILE", str(tmp_path / "password"))
    monkeypatch.setenv("demo_webhook_secrets_file", str(tmp_path / "secrets.json"))  # not case-sensitive
    settings = Demo()
    assert settings.smtp_password is not None
    assert settings.smtp_password.get_secret_value() == "s3cr3t-from-a-file"  # the final line break dropped
    assert settings.webhook_secrets == {"waste_company": ["whsec_abc"]}  # JSON, as from the variable itself


def test_a_value_and_its_file_both_set_or_a_missing_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_SMTP_PASSWORD_FILE", str(tmp_path / "absent"))
    with pytest.raises(SettingsError, match=r"DEMO_SMTP_PASSWORD_FILE: cannot read"):
        Demo()
    (tmp_path / "absent").write_text("x")
    monkeypatch.setenv("DEMO_SMTP_PASSWORD", "y")
    with pytest.raises(SettingsError, match="both set"):
        Demo()


def test_settings_are_read_from_a_secrets_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "demo_amqp_url").write_text("amqp://hub:from-a-secret@rabbitmq:5672/\n")
    monkeypatch.setenv("DEMO_SECRETS_DIR", str(tmp_path))
    assert Demo().amqp_url == "amqp://hub:from-a-secret@rabbitmq:5672/"
    monkeypatch.setenv("DEMO_AMQP_URL", "amqp://hub:from-the-environment@rabbitmq:5672/")
    assert Demo().amqp_url == "amqp://hub:from-the-environment@rabbitmq:5672/"  # the environment wins
    monkeypatch.setenv("DEMO_SECRETS_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(SettingsError, match="no such directory"):
        Demo()


def test_unknown_variables_are_named_with_the_closest_known_one() -> None:
    environ = {
        "DEMO_AMQP_ULR": "amqp://x/",
        "DEMO_SMTP_PASWORD": "x",
        "DEMO_SMTP_PASSWORD_FILE": "/run/secrets/x",
        "DEMO_AMQP_URL": "amqp://x/",
        "DEMO_TEST_URL": "x",
        "DEMO_ZZZ": "x",
        "DEMO_SECRETS_DIR": "/run/secrets",
        "OTHER_THING": "x",
    }
    known = known_variables(Demo, extra=["DEMO_SECRETS_DIR"])
    found = unknown_variables(environ, known, "DEMO_", ignore_prefixes=["DEMO_TEST_"])
    assert found == [
        ("DEMO_AMQP_ULR", "DEMO_AMQP_URL"),
        ("DEMO_SMTP_PASWORD", "DEMO_SMTP_PASSWORD"),
        ("DEMO_ZZZ", None),
    ]
    assert unknown_variable_warnings(found) == [
        "unknown setting DEMO_AMQP_ULR: ignored (did you mean DEMO_AMQP_URL?)",
        "unknown setting DEMO_SMTP_PASWORD: ignored (did you mean DEMO_SMTP_PASSWORD?)",
        "unknown setting DEMO_ZZZ: ignored",
    ]


@pytest.mark.parametrize(
    ("amqp_url", "database_url", "expected"),
    [
        ("amqp://guest:guest@rabbitmq:5672/", "postgresql+asyncpg://hub:Zq8-x_71@pg/hub", ["guest", "password"]),
        ("amqp://rabbitmq:5672/", "postgresql+asyncpg://hub:Zq8-x_71@pg/hub", ["guest", "password"]),
        ("amqp://hub:hub@rabbitmq:5672/", "postgresql+asyncpg://hub:Zq8-x_71@pg/hub", ["password"]),
        ("amqp://hub@rabbitmq:5672/", "postgresql+asyncpg://hub:Zq8-x_71@pg/hub", ["password"]),
        ("amqp://hub:Kd93-aa1@rabbitmq/", "postgresql+asyncpg://hub@pg/hub", ["HUB_DATABASE_URL"]),
        ("amqp://hub:Kd93-aa1@rabbitmq/", "postgresql+asyncpg://hub:@pg/hub", ["HUB_DATABASE_URL"]),
        ("amqp://hub:Kd93-aa1@rabbitmq/", "postgresql+asyncpg://postgres:postgres@pg/hub", ["HUB_DATABASE_URL"]),
        ("amqp://hub:Kd93-aa1@rabbitmq/", "postgresql+asyncpg://hub:hub@pg/hub", ["HUB_DATABASE_URL"]),
        ("amqp://hub:Kd93-aa1@rabbitmq/", "postgresql+asyncpg://hub:Zq8-x_71@pg/hub", []),
        (
            "amqp://hub:Kd93-aa1@r1/,amqp://guest:guest@r2/",
            "postgresql+asyncpg://hub:Zq8-x_71@pg/hub",
            ["guest", "password"],
        ),
        ("amqp://hub:Kd93-aa1@r1/, amqp://hub:Kd93-aa1@r2/", "postgresql+asyncpg://hub:Zq8-x_71@pg/hub", []),
    ],
)
def test_production_refuses_default_credentials(amqp_url: str, database_url: str, expected: list[Any]) -> None:
    problems = production_problems(amqp_url, database_url)
    assert len(problems) == len(expected), problems
    for problem, word in zip(problems, expected, strict=True):
        assert word in problem
    for problem in problems:  # a password is never repeated in the message
        assert "Zq8" not in problem
        assert "Kd93" not in problem

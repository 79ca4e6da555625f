"""Settings from outside the environment, and checks on them at start-up (generic: any pydantic-settings class).

* `FileVariablesSource`: `<PREFIX><NAME>_FILE=/run/secrets/x` gives setting NAME the content of that file (the
  convention of the official PostgreSQL and RabbitMQ images), so a password never has to be an environment value.
  Setting both `<PREFIX><NAME>` and `<PREFIX><NAME>_FILE` is an error: which one would win is not obvious.
* `secrets_directory`: a directory of one file per setting, named as its variable (`hub_amqp_url`,
  `hub_smtp_password`, any case), as Docker and Kubernetes mount secrets; pydantic-settings reads it when
  `HUB_SECRETS_DIR` names one.
* `unknown_variables`: `<PREFIX>*` variables no setting reads (a typo silently leaves the default in force), each
  with the closest known name.
* `production_problems`: credentials that must not reach production (RabbitMQ's guest/guest, a database URL without
  a password or with a well-known one).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from pydantic_settings.exceptions import SettingsError

FILE_SUFFIX = "_FILE"
SECRETS_DIR_VARIABLE = "HUB_SECRETS_DIR"

# Passwords that ship with images, tutorials and this repository's examples: never good enough for production.
WELL_KNOWN_PASSWORDS = frozenset(
    {"", "guest", "hub", "postgres", "password", "passw0rd", "admin", "root", "secret", "changeme", "change-me",
     "test", "example", "generated-by-scripts-make-env-sh"}
)  # fmt: skip


def _prefix(settings_cls: type[BaseSettings]) -> str:
    return str(settings_cls.model_config.get("env_prefix") or "")


def _groups(field: FieldInfo) -> list[type[BaseModel]]:
    """The model classes a field holds (a nested settings group): its annotation and its default factory."""
    return [t for t in (field.annotation, field.default_factory) if isinstance(t, type) and issubclass(t, BaseModel)]


def _lookup(environ: Mapping[str, str], name: str, case_sensitive: bool) -> str | None:
    if case_sensitive:
        return environ.get(name)
    wanted = name.upper()
    for key, value in environ.items():
        if key.upper() == wanted:
            return value
    return None


class FileVariablesSource(PydanticBaseSettingsSource):
    """`<PREFIX><NAME>_FILE=path`: the setting's value is the file's content, without its final line break."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings_cls)
        self.environ = os.environ if environ is None else environ
        self.prefix = _prefix(settings_cls)
        self.case_sensitive = bool(settings_cls.model_config.get("case_sensitive", False))

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        variable = f"{self.prefix}{field_name}{FILE_SUFFIX}"
        path = _lookup(self.environ, variable, self.case_sensitive)
        if not path:
            return None, field_name, False
        if _lookup(self.environ, f"{self.prefix}{field_name}", self.case_sensitive) is not None:
            raise SettingsError(f"{variable.upper()} and {(self.prefix + field_name).upper()} are both set: keep one")
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"{variable.upper()}: cannot read {path}: {exc.strerror or exc}") from None
        return text.removesuffix("\n").removesuffix("\r"), field_name, self.field_is_complex(field)

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            if _groups(field):
                continue  # a nested group reads its own variables (HUB_SPIKES_FILE is a field of the spikes group)
            value, key, complex_ = self.get_field_value(field, field_name)
            if value is not None:
                values[key] = self.decode_complex_value(field_name, field, value) if complex_ else value
        return values


def secrets_directory(environ: Mapping[str, str] | None = None, variable: str = SECRETS_DIR_VARIABLE) -> Path | None:
    """The directory `variable` names, if any; an error when it names no directory."""
    environ = os.environ if environ is None else environ
    raw = _lookup(environ, variable, case_sensitive=False)
    if not raw:
        return None
    path = Path(raw)
    if not path.is_dir():
        raise SettingsError(f"{variable}={raw}: no such directory")
    return path


def known_variables(settings_cls: type[BaseModel], extra: Iterable[str] = ()) -> set[str]:
    """Every environment variable the settings class reads (upper case): each field and its `_FILE` twin, those of
    its nested settings groups (each with its own prefix), and `extra`."""
    names = {name.upper() for name in extra}
    prefix = str(settings_cls.model_config.get("env_prefix") or "").upper()
    for field_name, field in settings_cls.model_fields.items():
        groups = _groups(field)
        for group in groups:
            names |= known_variables(group)
        if groups:
            continue
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        for name in (field_name, field.alias, alias):
            if name:
                names |= {f"{prefix}{name}".upper(), f"{prefix}{name}{FILE_SUFFIX}".upper()}
    return names


def unknown_variables(
    environ: Mapping[str, str], known: set[str], prefix: str, *, ignore_prefixes: Iterable[str] = ()
) -> list[tuple[str, str | None]]:
    """(variable, closest known name or None) for each `prefix*` variable of `environ` no setting reads."""
    ignored = tuple(p.upper() for p in ignore_prefixes)
    found = []
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith(prefix.upper()) or upper in known or (ignored and upper.startswith(ignored)):
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.6)
        found.append((variable, close[0] if close else None))
    return found


def unknown_variable_warnings(found: Iterable[tuple[str, str | None]]) -> list[str]:
    return [
        f"unknown setting {name}: ignored" + (f" (did you mean {close}?)" if close else "") for name, close in found
    ]


def production_problems(amqp_url: str, database_url: str) -> list[str]:
    """What makes these URLs unfit for production (empty when nothing does). Never repeats a password."""
    problems = []
    for node in amqp_url.split(","):  # a cluster: every node's URL
        amqp = urlsplit(node.strip())
        # Without user or password in the URL the AMQP clients log in as guest/guest.
        user = unquote(amqp.username) if amqp.username else "guest"
        password = unquote(amqp.password) if amqp.password is not None else ("guest" if not amqp.username else "")
        if user == "guest":
            problems.append("HUB_AMQP_URL logs in as RabbitMQ's default user 'guest'")
        if password.lower() in WELL_KNOWN_PASSWORDS:
            problems.append("HUB_AMQP_URL has an empty or well-known password")
    problems = list(dict.fromkeys(problems))
    database = urlsplit(database_url)
    if not database.scheme.startswith("sqlite"):
        db_password = unquote(database.password) if database.password is not None else ""
        if db_password.lower() in WELL_KNOWN_PASSWORDS or db_password.lower() == unquote(database.username or ""):
            problems.append("HUB_DATABASE_URL has no password, or an empty or well-known one")
    return problems

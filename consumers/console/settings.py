"""The console's access settings (`HUB_AUTH_*`): sessions, the login throttle, the trusted SSO header."""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from infra.settings import CommaList, SettingsGroup, comma_list


class AuthSettings(SettingsGroup):
    model_config = SettingsConfigDict(env_prefix="HUB_AUTH_")

    session_hours: float = Field(default=8.0, gt=0, le=24 * 7, description="A session ends this long after login.")
    idle_minutes: float = Field(
        default=60.0, gt=0, description="A session ends after this long without a request (server-side)."
    )
    cookie_secure: bool = Field(
        default=False,
        description="Send the session cookie over HTTPS only (set it behind a TLS proxy; a request that came by "
        "https gets a Secure cookie anyway).",
    )
    secret: SecretStr | None = Field(
        default=None,
        description="Key that signs session cookies and CSRF tokens; none: a random key made once in the database "
        "(shared by every replica).",
    )
    throttle_window_s: float = Field(default=900.0, gt=0, description="The login throttle's window.")
    throttle_user_failures: int = Field(
        default=5, ge=1, description="Failed logins of one user name within the window before it is refused."
    )
    throttle_address_failures: int = Field(
        default=20, ge=1, description="Failed logins from one address within the window before it is refused."
    )
    trusted_header: str | None = Field(
        default=None,
        description="Single sign-on behind a reverse proxy: the header that names the signed-in user (e.g. "
        "X-Remote-User). Off by default; believed only from HUB_AUTH_TRUSTED_PROXIES.",
    )
    trusted_proxies: CommaList = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of the proxies whose trusted header is believed.",
    )

    contact_roles: CommaList = Field(
        default_factory=list,
        description="Roles that see a reporter's name, phone and e-mail when an agent looks a report up (e.g. agent); "
        "none by default: masked, and the page says so. Every look at them is in the audit trail.",
    )

    @field_validator("trusted_proxies", "contact_roles", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return comma_list(value)

    @field_validator("contact_roles")
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        from consumers.console.accounts import ROLES

        unknown = [r for r in value if r not in ROLES]
        if unknown:
            raise ValueError(f"unknown role(s) {', '.join(unknown)}: roles are {', '.join(ROLES)}")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"not an address or network: {item!r}") from None
        return value

    @field_validator("trusted_header")
    @classmethod
    def _header(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.replace("-", "").replace("_", "").isalnum():
            raise ValueError("a header name has letters, digits and dashes only")
        return value

    def proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(item, strict=False) for item in self.trusted_proxies]

"""The console's tables: users and their roles, sessions (server-side, so a disabled user or an expired session
ends at once), failed logins (the throttle every replica reads), API tokens, the audit trail and the signing key.

No password, session id or token is stored in the clear: passwords as Argon2id hashes, session ids and tokens
(256 random bits each) as their SHA-256.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.base import Base, Timestamp


class ConsoleAccount(Base):
    """A person who signs in (`hub users add NAME --role ROLE`); roles comma separated."""

    __tablename__ = "console_users"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    # Argon2id (argon2-cffi's PasswordHasher); None: this user signs in only through the trusted SSO header.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    roles: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2), default="nl")
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class ConsoleSession(Base):
    """A signed-in browser: the cookie holds the id (signed), the row its SHA-256, the user and when it ends."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    expires_at: Mapped[dt.datetime] = mapped_column(Timestamp)  # absolute end
    last_seen_at: Mapped[dt.datetime] = mapped_column(Timestamp)  # idle end: this + the idle time-out
    address: Mapped[str | None] = mapped_column(String(64))


class ConsoleLoginFailure(Base):
    """A refused login, per user name and per address: the throttle counts these in its window."""

    __tablename__ = "console_login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(Timestamp)

    __table_args__ = (
        Index("ix_console_login_failures_user", "user_name", "at"),
        Index("ix_console_login_failures_address", "address", "at"),
    )


class ConsoleToken(Base):
    """An API token of a machine client (`hub tokens add NAME --role management`): shown once, kept as SHA-256."""

    __tablename__ = "console_tokens"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    roles: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class ConsoleAudit(Base):
    """Every action: who, what, when, on which incident or message, from where (no personal data in `detail`)."""

    __tablename__ = "console_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(Timestamp, index=True)
    actor: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str | None] = mapped_column(String(300), index=True)
    detail: Mapped[dict[str, object] | None] = mapped_column(JSON)
    address: Mapped[str | None] = mapped_column(String(64))


class ConsoleKey(Base):
    """The key session cookies and CSRF tokens are signed with, made once by the first process that needs it
    (so every replica signs alike without configuration); `HUB_AUTH_SECRET` overrides it."""

    __tablename__ = "console_keys"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)

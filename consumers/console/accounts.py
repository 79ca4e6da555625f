"""Users, sessions, the login throttle, API tokens and the signing key: the console's access, on the database.

Passwords are hashed with Argon2id (argon2-cffi's `PasswordHasher`, its RFC 9106 defaults) and verified in a
thread (about 50 ms of CPU each); session ids and tokens are 256 random bits, kept as their SHA-256. Everything a
replica decides with is a row (sessions, failed logins, the key), so every replica decides alike and a disabled
user or an expired session is refused at the next request, on every replica.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.console.settings import AuthSettings
from consumers.console.tables import ConsoleAccount as UserRow
from consumers.console.tables import (
    ConsoleAudit,
    ConsoleKey,
    ConsoleLoginFailure,
    ConsoleSession,
    ConsoleToken,
)
from infra.clock import utcnow

ROLES = ("comms", "agent", "ops", "management")
LANGUAGES = ("nl", "en", "fr")
TOKEN_PREFIX = "hubt_"
MAX_PASSWORD = 1024  # Argon2 takes any length; a megabyte "password" is only a way to burn CPU
MIN_PASSWORD = 12
_SESSION_TOUCH = dt.timedelta(seconds=60)  # last_seen_at is written at most once a minute per session

_hasher = PasswordHasher()
# Verified against when the user does not exist, so an unknown name costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccessError(LookupError):
    """An access operation that cannot be done (an unknown user, a name in use, a bad role): one line."""


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def parse_roles(roles: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(r.strip() for r in roles if r.strip()))
    unknown = [r for r in chosen if r not in ROLES]
    if unknown or not chosen:
        raise AccessError(f"roles are {', '.join(ROLES)} (got {', '.join(unknown) or 'none'})")
    return chosen


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100 or not all(c.isalnum() or c in "._-@" for c in name):
        raise AccessError("a name has 1 to 100 letters, digits, '.', '_', '-' or '@'")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccessError(f"a password has at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccessError(f"a password has at most {MAX_PASSWORD} characters")
    return password


def new_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, 120 bits


@dataclass(frozen=True)
class ConsoleUser:
    """Who a request is: a signed-in user, a user named by the trusted SSO header, or an API token."""

    name: str
    roles: frozenset[str]
    language: str = "nl"
    via: str = "session"  # session | header | token
    session_id: str | None = None


@dataclass(frozen=True)
class UserInfo:
    name: str
    roles: tuple[str, ...]
    language: str
    created_at: dt.datetime
    disabled_at: dt.datetime | None
    last_login_at: dt.datetime | None
    has_password: bool


@dataclass(frozen=True)
class TokenInfo:
    name: str
    roles: tuple[str, ...]
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


@dataclass(frozen=True)
class LoginResult:
    principal: ConsoleUser | None
    session_id: str | None = None
    refused: str | None = None  # "wrong" (name or password), "throttled"
    retry_after_s: int = 0


def _roles_of(text: str) -> frozenset[str]:
    return frozenset(r for r in text.split(",") if r in ROLES)


def audit_row(
    actor: str, action: str, target: str | None, detail: dict[str, object] | None, address: str | None, at: dt.datetime
) -> ConsoleAudit:
    return ConsoleAudit(at=at, actor=actor, action=action, target=target, detail=detail or None, address=address)


@dataclass
class Accounts:
    sessions: async_sessionmaker[AsyncSession]
    settings: AuthSettings = field(default_factory=AuthSettings)
    clock: Callable[[], dt.datetime] = utcnow
    _key: bytes | None = field(default=None, init=False, repr=False)

    # --- the signing key ----------------------------------------------------------------------------------------

    async def key(self) -> bytes:
        if self._key is not None:
            return self._key
        if self.settings.secret is not None:
            self._key = hashlib.sha256(self.settings.secret.get_secret_value().encode()).digest()
            return self._key
        async with self.sessions() as session:
            row = await session.get(ConsoleKey, "signing")
        if row is None:
            try:
                async with self.sessions() as session, session.begin():
                    session.add(ConsoleKey(name="signing", value=secrets.token_urlsafe(32), created_at=self.clock()))
            except IntegrityError:  # another replica made it first: take theirs
                pass
            async with self.sessions() as session:
                row = await session.get(ConsoleKey, "signing")
        assert row is not None
        self._key = base64.urlsafe_b64decode(row.value + "=" * (-len(row.value) % 4))
        return self._key

    async def sign(self, purpose: str, value: str) -> str:
        mac = hmac.new(await self.key(), f"{purpose}:{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")

    async def verify(self, purpose: str, value: str, signature: str) -> bool:
        return hmac.compare_digest(await self.sign(purpose, value), signature)

    # --- users --------------------------------------------------------------------------------------------------

    async def add_user(
        self, name: str, roles: Iterable[str], password: str | None, *, language: str = "nl", actor: str = "cli"
    ) -> None:
        """A new user; `password` None: only the trusted SSO header signs them in."""
        name, chosen = check_name(name), parse_roles(roles)
        if language not in LANGUAGES:
            raise AccessError(f"languages are {', '.join(LANGUAGES)}")
        hashed = await asyncio.to_thread(_hasher.hash, check_password(password)) if password is not None else None
        now = self.clock()
        async with self.sessions() as session, session.begin():
            if await session.get(UserRow, name) is not None:
                raise AccessError(f"user '{name}' exists (hub users reset-password {name}, or another name)")
            session.add(
                UserRow(
                    name=name,
                    password_hash=hashed,
                    roles=",".join(chosen),
                    language=language,
                    created_at=now,
                    password_changed_at=now if hashed else None,
                )
            )
            session.add(audit_row(actor, "user.add", name, {"roles": list(chosen)}, None, now))

    async def users(self) -> list[UserInfo]:
        async with self.sessions() as session:
            rows = (await session.execute(select(UserRow).order_by(UserRow.name))).scalars()
            return [
                UserInfo(
                    r.name,
                    tuple(sorted(_roles_of(r.roles), key=ROLES.index)),
                    r.language,
                    r.created_at,
                    r.disabled_at,
                    r.last_login_at,
                    r.password_hash is not None,
                )
                for r in rows
            ]

    async def _user(self, session: AsyncSession, name: str) -> UserRow:
        row = await session.get(UserRow, name.strip())
        if row is None:
            raise AccessError(f"no user '{name}' (hub users list)")
        return row

    async def disable(self, name: str, *, actor: str = "cli") -> int:
        """Disable a user and end their sessions at once; the number of sessions ended."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            row = await self._user(session, name)
            if row.disabled_at is None:
                row.disabled_at = now
            ended = await session.execute(delete(ConsoleSession).where(ConsoleSession.user_name == row.name))
            session.add(audit_row(actor, "user.disable", row.name, None, None, now))
            return int(ended.rowcount or 0)  # type: ignore[attr-defined]

    async def enable(self, name: str, *, actor: str = "cli") -> None:
        async with self.sessions() as session, session.begin():
            row = await self._user(session, name)
            row.disabled_at = None
            session.add(audit_row(actor, "user.enable", row.name, None, None, self.clock()))

    async def set_password(self, name: str, password: str, *, actor: str = "cli") -> None:
        """A new password; the user's sessions end (whoever knew the old one is signed out)."""
        hashed = await asyncio.to_thread(_hasher.hash, check_password(password))
        now = self.clock()
        async with self.sessions() as session, session.begin():
            row = await self._user(session, name)
            row.password_hash, row.password_changed_at = hashed, now
            await session.execute(delete(ConsoleSession).where(ConsoleSession.user_name == row.name))
            await session.execute(delete(ConsoleLoginFailure).where(ConsoleLoginFailure.user_name == row.name))
            session.add(audit_row(actor, "user.reset-password", row.name, None, None, now))

    async def set_roles(self, name: str, roles: Iterable[str], *, actor: str = "cli") -> None:
        chosen = parse_roles(roles)
        async with self.sessions() as session, session.begin():
            row = await self._user(session, name)
            row.roles = ",".join(chosen)
            session.add(audit_row(actor, "user.roles", row.name, {"roles": list(chosen)}, None, self.clock()))

    async def set_language(self, name: str, language: str) -> None:
        if language not in LANGUAGES:
            raise AccessError(f"languages are {', '.join(LANGUAGES)}")
        async with self.sessions() as session, session.begin():
            await session.execute(update(UserRow).where(UserRow.name == name).values(language=language))

    # --- login, sessions ----------------------------------------------------------------------------------------

    async def _throttled(self, session: AsyncSession, name: str, address: str, now: dt.datetime) -> int:
        """Seconds until a login of `name` from `address` is taken again; 0: now."""
        since = now - dt.timedelta(seconds=self.settings.throttle_window_s)
        waits = []
        for column, value, limit in (
            (ConsoleLoginFailure.user_name, name, self.settings.throttle_user_failures),
            (ConsoleLoginFailure.address, address, self.settings.throttle_address_failures),
        ):
            row = (
                await session.execute(
                    select(func.count(), func.min(ConsoleLoginFailure.at)).where(
                        column == value, ConsoleLoginFailure.at > since
                    )
                )
            ).one()
            if int(row[0]) >= limit and row[1] is not None:
                # The oldest failure in the window leaves it first; a full window when the clocks disagree.
                left = (row[1] - since).total_seconds()
                waits.append(int(left) + 1 if 0 < left <= self.settings.throttle_window_s else 1)
        return max(waits, default=0)

    async def login(self, name: str, password: str, address: str) -> LoginResult:
        """Check a name and password (throttled per user and per address, counted in the database)."""
        name = name.strip()[:100]
        address = address[:64]
        now = self.clock()
        async with self.sessions() as session, session.begin():
            wait = await self._throttled(session, name, address, now)
            if wait:
                session.add(audit_row(name or "?", "login.throttled", None, None, address, now))
                return LoginResult(None, refused="throttled", retry_after_s=wait)
            row = await session.get(UserRow, name) if name else None
            stored = row.password_hash if row is not None and row.password_hash else _DUMMY_HASH
            ok = await asyncio.to_thread(_verify, stored, password[:MAX_PASSWORD])
            ok = ok and row is not None and row.password_hash is not None and row.disabled_at is None
            if not ok or row is None:
                since = now - dt.timedelta(seconds=self.settings.throttle_window_s)
                await session.execute(delete(ConsoleLoginFailure).where(ConsoleLoginFailure.at <= since))
                session.add(ConsoleLoginFailure(user_name=name, address=address, at=now))
                session.add(audit_row(name or "?", "login.refused", None, None, address, now))
                return LoginResult(None, refused="wrong")
            if _hasher.check_needs_rehash(stored):
                row.password_hash = await asyncio.to_thread(_hasher.hash, password)
            session_id = secrets.token_urlsafe(32)
            session.add(
                ConsoleSession(
                    id_hash=sha256(session_id),
                    user_name=row.name,
                    created_at=now,
                    expires_at=now + dt.timedelta(hours=self.settings.session_hours),
                    last_seen_at=now,
                    address=address,
                )
            )
            row.last_login_at = now
            await session.execute(delete(ConsoleLoginFailure).where(ConsoleLoginFailure.user_name == row.name))
            await session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
            session.add(audit_row(row.name, "login", None, None, address, now))
            principal = ConsoleUser(row.name, _roles_of(row.roles), row.language, "session", session_id)
        return LoginResult(principal, session_id=session_id)

    async def session_user(self, session_id: str) -> ConsoleUser | None:
        """The user of a live session; None when it expired (absolute or idle), was ended or its user disabled."""
        now = self.clock()
        idle = dt.timedelta(minutes=self.settings.idle_minutes)
        async with self.sessions() as session, session.begin():
            found = (
                await session.execute(
                    select(ConsoleSession, UserRow)
                    .join(UserRow, UserRow.name == ConsoleSession.user_name)
                    .where(ConsoleSession.id_hash == sha256(session_id))
                )
            ).first()
            if found is None:
                return None
            row, user = found
            if row.expires_at <= now or row.last_seen_at + idle <= now or user.disabled_at is not None:
                await session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == row.id_hash))
                return None
            if now - row.last_seen_at >= _SESSION_TOUCH:
                row.last_seen_at = now
            return ConsoleUser(user.name, _roles_of(user.roles), user.language, "session", session_id)

    async def logout(self, session_id: str, *, address: str | None = None) -> None:
        async with self.sessions() as session, session.begin():
            row = await session.get(ConsoleSession, sha256(session_id))
            if row is not None:
                await session.delete(row)
                session.add(audit_row(row.user_name, "logout", None, None, address, self.clock()))

    async def header_user(self, name: str) -> ConsoleUser | None:
        """The user the trusted SSO header names: only an existing, enabled user, with the roles given here."""
        async with self.sessions() as session:
            row = await session.get(UserRow, name.strip()[:100])
            if row is None or row.disabled_at is not None:
                return None
            return ConsoleUser(row.name, _roles_of(row.roles), row.language, "header")

    # --- API tokens ---------------------------------------------------------------------------------------------

    async def add_token(self, name: str, roles: Iterable[str], *, actor: str = "cli") -> str:
        name, chosen = check_name(name), parse_roles(roles)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        async with self.sessions() as session, session.begin():
            row = await session.get(ConsoleToken, name)
            if row is not None and row.revoked_at is None:
                raise AccessError(f"token '{name}' exists: revoke it first (hub tokens revoke {name})")
            if row is None:
                session.add(ConsoleToken(name=name, token_hash=sha256(token), roles=",".join(chosen), created_at=now))
            else:
                row.token_hash, row.roles, row.created_at = sha256(token), ",".join(chosen), now
                row.revoked_at = row.last_used_at = None
            session.add(audit_row(actor, "token.add", name, {"roles": list(chosen)}, None, now))
        return token

    async def tokens(self) -> list[TokenInfo]:
        async with self.sessions() as session:
            rows = (await session.execute(select(ConsoleToken).order_by(ConsoleToken.name))).scalars()
            return [
                TokenInfo(
                    r.name,
                    tuple(sorted(_roles_of(r.roles), key=ROLES.index)),
                    r.created_at,
                    r.revoked_at,
                    r.last_used_at,
                )
                for r in rows
            ]

    async def revoke_token(self, name: str, *, actor: str = "cli") -> None:
        now = self.clock()
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                update(ConsoleToken)
                .where(ConsoleToken.name == name, ConsoleToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise AccessError(f"no active token '{name}' (hub tokens list)")
            session.add(audit_row(actor, "token.revoke", name, None, None, now))

    async def token_user(self, token: str) -> ConsoleUser | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = sha256(token)
        now = self.clock()
        async with self.sessions() as session, session.begin():
            row = (
                await session.execute(
                    select(ConsoleToken).where(ConsoleToken.token_hash == digest, ConsoleToken.revoked_at.is_(None))
                )
            ).scalar_one_or_none()
            if row is None or not hmac.compare_digest(row.token_hash, digest):
                return None
            if row.last_used_at is None or now - row.last_used_at >= _SESSION_TOUCH:
                row.last_used_at = now
            return ConsoleUser(row.name, _roles_of(row.roles), "nl", "token")


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False

"""Per-client API keys: made once (shown once), kept only as their SHA-256, revocable."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.open311.tables import Open311ApiKey
from infra.clock import utcnow

KEY_PREFIX = "o311_"


def new_key() -> str:
    """256 random bits: a plain SHA-256 is enough to store it (no dictionary to attack)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeyError(LookupError):
    """A key operation could not be done (a name in use, an unknown name)."""


@dataclass(frozen=True)
class KeyInfo:
    name: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class ApiKeys:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, name: str, *, now: dt.datetime | None = None) -> str:
        """A new key for client `name` (a revoked name gets a new key); the key itself is returned, never stored."""
        name = name.strip()
        if not name or len(name) > 100:
            raise ApiKeyError("a client name has 1 to 100 characters")
        key = new_key()
        now = now or utcnow()
        async with self._sessions() as session, session.begin():
            row = await session.get(Open311ApiKey, name)
            if row is not None and row.revoked_at is None:
                raise ApiKeyError(
                    f"client '{name}' already has a key: revoke it first (hub open311 keys revoke {name})"
                )
            if row is None:
                session.add(Open311ApiKey(name=name, key_hash=key_hash(key), created_at=now))
            else:
                row.key_hash, row.created_at, row.revoked_at, row.last_used_at = key_hash(key), now, None, None
        return key

    async def revoke(self, name: str, *, now: dt.datetime | None = None) -> None:
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(Open311ApiKey)
                .where(Open311ApiKey.name == name, Open311ApiKey.revoked_at.is_(None))
                .values(revoked_at=now or utcnow())
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise ApiKeyError(f"no active key for client '{name}'")

    async def list(self) -> list[KeyInfo]:
        async with self._sessions() as session:
            rows = (await session.execute(select(Open311ApiKey).order_by(Open311ApiKey.name))).scalars()
            return [KeyInfo(r.name, r.created_at, r.revoked_at, r.last_used_at) for r in rows]

    async def client_of(self, key: str | None) -> str | None:
        """The client a key belongs to, or None for a missing, unknown or revoked key."""
        if not key:
            return None
        digest = key_hash(key)
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(Open311ApiKey.name, Open311ApiKey.key_hash).where(
                        Open311ApiKey.key_hash == digest, Open311ApiKey.revoked_at.is_(None)
                    )
                )
            ).first()
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            return None
        return str(row.name)

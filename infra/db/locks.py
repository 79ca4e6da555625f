"""Transaction-scoped named locks: replicas that decide about the same thing take turns.

On PostgreSQL a `pg_advisory_xact_lock` on a 64-bit key derived from the name (released at commit or rollback);
SQLite lets one writer at a time anyway, so nothing to take there. Take several in sorted order (`lock_all`): two
transactions that lock the same names in the same order cannot deadlock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a name (the same on every replica and every Python)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def lock_all(session: AsyncSession, names: Iterable[str]) -> None:
    """Hold the named locks until the transaction ends, taken in sorted order."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for name in sorted(set(names)):
        await session.execute(_LOCK, {"key": lock_key(name)})

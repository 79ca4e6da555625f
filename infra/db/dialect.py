"""Small dialect bridges: `INSERT ... ON CONFLICT DO NOTHING` for SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.dml import Insert


def insert_ignore(session: AsyncSession, model: type[DeclarativeBase]) -> Any:
    """An INSERT that skips rows whose key exists (the idempotency primitive of the hub)."""
    dialect = session.get_bind().dialect.name
    stmt: Insert
    if dialect == "postgresql":
        stmt = postgresql.insert(model)
    elif dialect == "sqlite":
        stmt = sqlite.insert(model)
    else:  # pragma: no cover - the hub supports two databases
        raise RuntimeError(f"unsupported database dialect {dialect!r}")
    return stmt.on_conflict_do_nothing()

"""Async engines for the embedded default (SQLite file) and production (PostgreSQL), and schema upgrades."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class NoDatabase(LookupError):
    """The embedded database file does not exist: a command that only reads or updates the hub's data never makes one."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def require_database(url: str) -> None:
    """Raise `NoDatabase` for a SQLite URL whose file does not exist (instead of SQLite creating an empty one)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database or ""
    embedded_file = database not in ("", ":memory:") and not database.startswith("file:")
    if parsed.get_backend_name() == "sqlite" and embedded_file and not Path(database).exists():
        raise NoDatabase(database)


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it costs a round trip per transaction; a connection that died with the server fails its
        # transaction as a transient error (the delivery is retried) and the pool is invalidated.
        pool_pre_ping=False,
        # A dead server must not hang a transaction for minutes: fail fast, the delivery is retried later.
        connect_args={"timeout": 10, "command_timeout": 30},
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (CLI, HTTP) work while a consumer writes; busy_timeout makes writers queue, not fail.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def upgrade_schema(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply the Alembic migrations on the engine's database (both SQLite and PostgreSQL)."""

    def _upgrade(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


@contextlib.asynccontextmanager
async def command_sessions(url: str, *, upgrade: bool = False) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A command's own engine for one run: its session factory (the schema upgraded first if asked), the engine
    disposed after, whatever happens. The one way a `hub` command that is no consumer opens the database."""
    engine = create_engine(url)
    try:
        if upgrade:
            await upgrade_schema(engine)
        yield create_session_factory(engine)
    finally:
        await engine.dispose()

"""Database: the schema, engines for SQLite (embedded default) and PostgreSQL, and migrations."""

from infra.db.base import Base
from infra.db.engine import (
    NoDatabase,
    command_sessions,
    create_engine,
    create_session_factory,
    require_database,
    upgrade_schema,
)
from infra.db.metadata import load_all_tables

__all__ = [
    "Base",
    "NoDatabase",
    "command_sessions",
    "create_engine",
    "create_session_factory",
    "load_all_tables",
    "require_database",
    "upgrade_schema",
]

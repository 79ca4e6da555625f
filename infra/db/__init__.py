"""Database: the schema, engines for SQLite (embedded default) and PostgreSQL, and migrations."""

from infra.db.engine import create_engine, create_session_factory, upgrade_schema
from infra.db.models import Base

__all__ = ["Base", "create_engine", "create_session_factory", "upgrade_schema"]

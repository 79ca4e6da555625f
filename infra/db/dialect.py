"""The one dialect bridge: `INSERT ... ON CONFLICT` for SQLite and PostgreSQL alike.

`insert_ignore` is the idempotency primitive of the hub (a row whose key exists is skipped); `dialect_insert` is
the plain INSERT of the dialect, for an `ON CONFLICT DO UPDATE` (counter upserts) a caller adds itself; `chunks`
cuts the rows of an executemany, or the ids of an `IN (...)`, into statements of at most `CHUNK`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Session

# What the builders take: a mapped class or its table, and a session (sync or async) or a dialect name.
Target = type[DeclarativeBase] | Table
Bind = Session | AsyncSession | str

# Rows per statement: far below the bind-parameter limits of PostgreSQL (32,767) and SQLite (32,766).
CHUNK = 2_000

T = TypeVar("T")

_STATEMENTS: dict[tuple[str, str], Any] = {}


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of at most `size` (none for no items): one statement per slice."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _dialect(bind: Bind) -> str:
    return bind if isinstance(bind, str) else bind.get_bind().dialect.name


def _table(target: Target) -> Table:
    return target if isinstance(target, Table) else cast(Table, target.__table__)


def dialect_insert(bind: Bind, target: Target) -> Any:
    """A plain `INSERT` of the session's dialect on the target's table (it has `on_conflict_do_*`)."""
    dialect = _dialect(bind)
    if dialect == "postgresql":
        return postgresql.insert(_table(target))
    if dialect == "sqlite":
        return sqlite.insert(_table(target))
    raise RuntimeError(f"unsupported database dialect {dialect!r}")  # pragma: no cover - two databases


def insert_ignore(bind: Bind, target: Target) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING` on the target's Core table (no ORM bulk path), built once per dialect.

    Executed with a LIST of rows (`session.execute(stmt, rows)`) it is one executemany that SQLAlchemy sends as
    multi-row VALUES pages ("insertmanyvalues"), RETURNING included, with its compiled form cached: tens of
    microseconds per row, where a `.values(...)` statement built per row or per batch costs about a millisecond.
    Statements are immutable: `.values(...)` and `.returning(...)` on the cached one make new ones.
    """
    dialect = _dialect(bind)
    table = _table(target)
    key = (dialect, table.name)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = dialect_insert(dialect, table).on_conflict_do_nothing()
    return stmt

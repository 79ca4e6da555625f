"""The hub's one clock and its two time-zone bridges.

Every stored time is a UTC instant. SQLite keeps no offset and hands time stamps back naive, PostgreSQL aware:
`aware` reads a stored value back, `utc` turns any time into the UTC instant that is stored.
Services take a `Clock` (this `utcnow` by default) so tests and replays can give them another time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import overload

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    """Now, as an aware UTC time."""
    return dt.datetime.now(dt.UTC)


@overload
def aware(moment: dt.datetime) -> dt.datetime: ...
@overload
def aware(moment: None) -> None: ...
def aware(moment: dt.datetime | None) -> dt.datetime | None:
    """A stored time read back: a naive value (SQLite) is UTC; an aware one (PostgreSQL) is kept as it is."""
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def utc(moment: dt.datetime) -> dt.datetime:
    """The same instant in UTC (what is stored); a naive value is taken to be UTC already."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)

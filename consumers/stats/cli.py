"""`hub stats`: the figures for a period as a table, CSV or JSON; `hub stats rebuild`.

`register` adds them to the `hub` command line; heavy imports stay inside the commands so `hub --help` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import io
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from consumers.domain.settings import DomainSettings
from infra.cli import Subparsers, bind, command

if TYPE_CHECKING:
    from consumers.stats.queries import Period
    from consumers.stats.report import Table

FORMATS = ("table", "csv", "json")


class CliSettings(Protocol):
    """What these commands read of the hub's settings (the composition root passes its own)."""

    @property
    def database_url(self) -> str: ...

    @property
    def domain(self) -> DomainSettings: ...


def register(sub: Subparsers, settings: Callable[[], CliSettings]) -> None:
    """Add `hub stats` (and `hub stats rebuild`)."""
    from consumers.stats.report import GROUPINGS

    stats = sub.add_parser(
        "stats",
        help="figures: calls, reports, work orders and spikes per period and grouping",
        description=(
            "Figures for a period of whole days in Europe/Brussels (default: this year). Without --by: a summary. "
            "Time groupings show calls (answered, at once, first-contact resolution, handle time, outside opening "
            "hours), reports, work orders and spikes per period."
        ),
    )
    stats.add_argument("--year", type=int, help="a calendar year, e.g. 2021")
    stats.add_argument("--from", dest="date_from", type=_date, metavar="DATE", help="first day, YYYY-MM-DD")
    stats.add_argument("--to", dest="date_to", type=_date, metavar="DATE", help="last day (inclusive), YYYY-MM-DD")
    stats.add_argument("--by", choices=GROUPINGS, help="grouping (default: a summary)")
    stats.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    stats.add_argument(
        "--as-of", dest="as_of", type=_date, metavar="DATE", help="day work orders are overdue against (default: today)"
    )
    command(stats, bind(cmd_stats, settings))
    actions = stats.add_subparsers(metavar="ACTION")
    rebuild = actions.add_parser("rebuild", help="recompute every counter from the stored facts, in one transaction")
    rebuild.add_argument("--quiet", action="store_true", help="no progress bar (there is none off a terminal)")
    command(rebuild, bind(cmd_rebuild, settings))


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def resolve_period(year: int | None, date_from: dt.date | None, date_to: dt.date | None, today: dt.date) -> Period:
    """`--year`, or `--from` [`--to`, default today], or else this year."""
    from consumers.stats.queries import Period

    if year is not None:
        if date_from is not None or date_to is not None:
            raise ValueError("give --year or --from/--to, not both")
        return Period.year(year)
    if date_from is None:
        if date_to is not None:
            raise ValueError("--to needs --from")
        return Period.year(today.year)
    return Period(date_from, date_to or today)


def cmd_stats(args: argparse.Namespace, settings: CliSettings) -> int:
    from consumers.domain.calendar import CityCalendar

    calendar = CityCalendar.load(settings.domain.calendar_file)
    today = dt.datetime.now(calendar.tz).date()
    try:
        period = resolve_period(args.year, args.date_from, args.date_to, today)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # A database failure (unreachable, no schema) is the hub command line's one line and exit code.
    table = asyncio.run(_query(settings.database_url, period, args.by, calendar, args.as_of or today))
    sys.stdout.write(render(table, args.format, period=period, by=args.by))
    return 0


async def _query(database_url: str, period: Period, by: Any, calendar: Any, as_of: dt.date) -> Table:
    from consumers.stats.report import stats_table
    from infra.db import command_sessions

    async with command_sessions(database_url) as sessions, sessions() as session:
        return await stats_table(session, period, by, tz=calendar.tz, as_of=as_of, calendar=calendar)


def render(table: Table, fmt: str, *, period: Period, by: str | None) -> str:
    if fmt == "json":
        document = {
            "title": table.title,
            "period": {"from": period.first.isoformat(), "to": period.last.isoformat()},
            "by": by,
            "columns": table.columns,
            "rows": table.records(),
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(table.columns)
        writer.writerows(["" if v is None else v for v in row] for row in table.rows)
        return out.getvalue()
    from rich.console import Console
    from rich.table import Table as RichTable

    rich_table = RichTable()
    for i, column in enumerate(table.columns):
        rich_table.add_column(column, justify="left" if i == 0 else "right")
    for row in table.rows:
        rich_table.add_row(*("-" if v is None else f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    # The title on its own line: rich would wrap it to the width of a narrow table.
    buffer = io.StringIO(table.title + "\n")
    buffer.seek(0, io.SEEK_END)
    Console(file=buffer, width=max(100, 14 * len(table.columns)), force_terminal=False).print(rich_table)
    return buffer.getvalue()


def cmd_rebuild(args: argparse.Namespace, settings: CliSettings) -> int:
    from consumers.domain.calendar import CityCalendar
    from consumers.stats.rebuild import rebuild
    from infra.db import create_engine, create_session_factory
    from infra.progress import counting

    calendar = CityCalendar.load(settings.domain.calendar_file)

    async def _go() -> None:
        engine = create_engine(settings.database_url)
        try:
            # A bar of the facts read (on a terminal, not with --quiet); a database failure is the hub command
            # line's one line and exit code (unreachable, no schema, ...).
            with counting("facts read", None, unit="facts", quiet=args.quiet) as bar:
                task = bar.tasks[0].id
                result = await rebuild(
                    create_session_factory(engine),
                    calendar.tz,
                    on_total=lambda n: bar.update(task, total=n),
                    on_facts=lambda n: bar.advance(task, n),
                )
        finally:
            await engine.dispose()
        print(
            f"rebuilt {result.counters:,} counters from {result.calls:,} calls, {result.reports:,} reports, "
            f"{result.workorders:,} work orders and {result.incidents:,} incidents in {result.seconds:.1f} s"
        )

    asyncio.run(_go())
    return 0

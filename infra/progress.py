"""Progress of a long command on the terminal (rich, like `hub demo`), quiet with `--quiet` or off a terminal.

The bar goes to stderr, so a command's output on stdout stays clean for a pipe; when stderr is no terminal
(a pipe, a log file, CI) nothing is drawn at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items per second, e.g. `1,234 msg/s`."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} {self.unit}/s", style="progress.data.speed")


class FieldColumn(ProgressColumn):
    """A task field shown as `label value` once it is set (e.g. the event time reached)."""

    def __init__(self, name: str, label: str) -> None:
        super().__init__()
        self.name, self.label = name, label

    def render(self, task: Task) -> Text:
        value = task.fields.get(self.name)
        return Text("" if value is None else f"{self.label} {value}", style="progress.remaining")


def enabled(quiet: bool, console: Console | None = None) -> bool:
    """Whether a bar is drawn: not with `--quiet`, and only on a terminal."""
    return not quiet and (console or Console(stderr=True)).is_terminal


@contextmanager
def counting(description: str, total: int | None, *, unit: str, quiet: bool, **fields: object) -> Iterator[Progress]:
    """One bar counting `unit`s towards `total`, with their rate, elapsed and remaining time, and `fields`."""
    console = Console(stderr=True)
    columns: list[ProgressColumn] = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    columns += [FieldColumn(name, str(label)) for name, label in fields.items()]
    progress = Progress(*columns, console=console, disable=not enabled(quiet, console))
    initial: dict[str, Any] = dict.fromkeys(fields)
    progress.add_task(description, total=total, **initial)
    with progress:
        yield progress


def event_time(moment: dt.datetime, tz: dt.tzinfo | None = None) -> str:
    """An event time as the bars show it: minutes, in the city's zone when given."""
    return (moment.astimezone(tz) if tz is not None else moment).strftime("%Y-%m-%d %H:%M")

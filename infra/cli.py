"""The typed pieces every `cli.py` uses to add its commands to the `hub` command line.

A consumer's `register(subparsers, context)` adds its parsers and binds each to a command function
`(args, context) -> int`; `context` is a callable the composition root passes (its settings, made when a command
runs, so `hub --help` reads no environment). `hub.cli` only assembles the consumers' `register` calls: no command
is looked up by name.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import TypeAlias, TypeVar

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Run: TypeAlias = Callable[[argparse.Namespace], int]

C = TypeVar("C")


def bind(command: Callable[[argparse.Namespace, C], int], context: Callable[[], C]) -> Run:
    """The command as `hub.cli` runs it: its context made when it runs."""

    def run(args: argparse.Namespace) -> int:
        return int(command(args, context()) or 0)

    return run


def command(parser: argparse.ArgumentParser, run: Run) -> argparse.ArgumentParser:
    """Make `parser` run `run` (hub.cli calls `args.run(args)`)."""
    parser.set_defaults(run=run)
    return parser


def stamp(moment: dt.datetime | None) -> str:
    """A stored time as a command's listing shows it (to the second), `-` for none."""
    return moment.isoformat(timespec="seconds") if moment else "-"

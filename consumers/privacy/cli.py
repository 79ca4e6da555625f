"""`hub privacy erase --report ID` and `hub privacy retention --dry-run|--apply` (`register` adds them to the `hub` command line).

Output names report ids and counts, never the data that was erased.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

from consumers.privacy.settings import PrivacySettings
from infra.cli import Subparsers, bind, command
from infra.settings import RelaySettings

if TYPE_CHECKING:
    from consumers.privacy.service import PrivacyService


class CliSettings(Protocol):
    """What these commands read of the hub's settings (the composition root passes its own)."""

    @property
    def amqp_url(self) -> str: ...

    @property
    def database_url(self) -> str: ...

    @property
    def relay(self) -> RelaySettings: ...

    @property
    def privacy(self) -> PrivacySettings: ...


class Context(Protocol):
    """What the commands run with, from the composition root: its settings and its privacy service."""

    @property
    def settings(self) -> CliSettings: ...

    def service(self, *, publish: bool) -> AbstractAsyncContextManager[PrivacyService]:
        """The service, on a database with the schema up to date; with `publish`, its notices go out at once."""
        ...


def register(sub: Subparsers, context: Callable[[], Context]) -> None:
    """Add `hub privacy erase` and `hub privacy retention`."""
    privacy = sub.add_parser("privacy", help="reporters' personal data: erase on request, retention")
    actions = privacy.add_subparsers(metavar="ACTION")
    erase = actions.add_parser(
        "erase",
        help="erase a report's contact data everywhere the hub stored it and notify the assignees that received it",
        description=(
            "Erases the reporter's name, phone and e-mail from the report, the work orders in the outbox, the webhook "
            "and e-mail payloads and the dead-letter copies; records the erasure (without the data) and sends "
            "`workorder.reporter_erased.<assignee>` to each assignee that received the data. Statistics do not change. "
            "Running it again is safe."
        ),
    )
    erase.add_argument("--report", required=True, metavar="ID", help="the report id")
    command(erase, bind(erase_cmd, context))
    retention = actions.add_parser(
        "retention",
        help="erase contact data of reports closed longer ago than HUB_PRIVACY_RETENTION_DAYS (as `hub run` does hourly)",
    )
    mode = retention.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dry-run", action="store_true", help="count what would be erased, change nothing")
    mode.add_argument("--apply", action="store_true", help="erase it now")
    command(retention, bind(retention_cmd, context))


async def _with_service(context: Context, job: Any, *, publish: bool = True) -> Any:
    async with context.service(publish=publish) as service:
        return await job(service)


def erase_cmd(args: argparse.Namespace, context: Context) -> int:
    async def job(service: PrivacyService) -> Any:
        return await service.erase(args.report)

    erasure = asyncio.run(_with_service(context, job))
    if erasure.dead_letters is None:
        dead = f"not reached ({erasure.dead_letters_error or 'unknown error'}: run again)"
    else:
        dead = f"{erasure.dead_letters} scrubbed"
    print(f"erasure {erasure.erasure_id} of report {erasure.report_id}")
    print(f"  report row:         {'contact data erased' if erasure.report_erased else 'no contact data (left)'}")
    print(f"  outbox messages:    {erasure.outbox_rows} rewritten without the reporter")
    print(f"  webhook/e-mail:     {erasure.delivery_rows} payload(s) rewritten")
    print(f"  dead letters:       {dead}")
    if erasure.dead_letters_unreadable:
        print(
            f"  unreadable skipped: {erasure.dead_letters_unreadable} dead letter(s), no JSON object: left as they are"
        )
    print(f"  assignees notified: {', '.join(erasure.notified) or 'none (no assignee received the data)'}")
    return 0 if erasure.dead_letters is not None else 1


def retention_cmd(args: argparse.Namespace, context: Context) -> int:
    async def job(service: PrivacyService) -> Any:
        return await service.retention(apply=bool(args.apply))

    result = asyncio.run(_with_service(context, job, publish=bool(args.apply)))
    days = context.settings.privacy.retention_days
    print(f"retention: contact data of reports closed before {result.cutoff.isoformat()} ({days} days)")
    if args.dry_run:
        print(f"  would erase: {result.due} report(s){': ' + ', '.join(result.sample) if result.sample else ''}")
        if result.due > len(result.sample):
            print(f"  (first {len(result.sample)} shown)")
        print(f"  dead letters that would be scrubbed: {result.dead_letters}")
        print(f"  unreadable dead letters skipped: {result.dead_letters_unreadable}")
        print("  dry run: nothing changed")
        return 0
    print(f"  erased: {len(result.erased)} report(s)")
    print(f"  dead letters scrubbed: {result.dead_letters}")
    print(f"  unreadable dead letters skipped: {result.dead_letters_unreadable}")
    return 0

"""`hub workorders list | show ID | set-status ID STATUS | unfold REPORT`: staff look at work orders and act for
a contractor.

`unfold` takes a report folded wrongly out of its incident order (`consumers.router.incidents`): its merged order is
open again (or it gets its own now), and the incident order's assignee gets an update at once.

`set-status` applies the change through the `status` consumer's validated path (`consumers.contractors.onbehalf`):
the state machine, exactly once, and the history records it as done by staff on behalf of the contractor, with
its author (the login name, or `--by NAME`). A change the state machine refuses is one line on stderr and exit
code 1. Registered by `hub.cli` through `register(subparsers)`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from consumers.contractors.settings import ContractorsSettings
from consumers.domain.settings import DomainSettings
from contracts import WorkOrderStatus
from infra.cli import Subparsers, bind, command

T = TypeVar("T")
SETTABLE = [s.value for s in WorkOrderStatus if s != WorkOrderStatus.ISSUED]


class CliSettings(Protocol):
    """What these commands read of the hub's settings."""

    @property
    def database_url(self) -> str: ...

    @property
    def domain(self) -> DomainSettings: ...

    @property
    def contractors(self) -> ContractorsSettings: ...


def register(sub: Subparsers, settings: Callable[[], CliSettings]) -> None:
    """Add `workorders list|show|set-status` to the `hub` command's subparsers."""
    workorders = sub.add_parser(
        "workorders", help="work orders: list, show their history, set a status for an assignee"
    )
    w_sub = workorders.add_subparsers(metavar="ACTION")
    listing = w_sub.add_parser("list", help="open work orders, overdue first")
    listing.add_argument("--assignee", help="one assignee's orders (its code)")
    listing.add_argument("--overdue", action="store_true", help="only open orders past their due date")
    listing.add_argument("--all", action="store_true", help="closed orders too (done, rejected)")
    listing.add_argument("--limit", type=int, default=100, help="orders shown")
    command(listing, bind(list_cmd, settings))
    show = w_sub.add_parser("show", help="one work order and its status changes (who, when)")
    show.add_argument("work_order_id", help="the work order id (wo-...)")
    command(show, bind(show_cmd, settings))
    setter = w_sub.add_parser(
        "set-status",
        help="record a status change on behalf of the assignee (e.g. a contractor that phoned it in)",
        description="Applied like the assignee's own update: the same state machine, once, in the history with "
        "its author.",
    )
    setter.add_argument("work_order_id", help="the work order id (wo-...)")
    setter.add_argument("status", choices=SETTABLE, help="the new status")
    setter.add_argument("--reason", help="why (required for rejected)")
    setter.add_argument("--planned-for", type=dt.date.fromisoformat, metavar="DATE", help="for planned: YYYY-MM-DD")
    setter.add_argument("--note", help="a note kept with the change")
    setter.add_argument(
        "--at", type=dt.datetime.fromisoformat, help="when it happened (ISO; city time without an offset; default now)"
    )
    setter.add_argument("--by", help="who records it (default: the login name)")
    command(setter, bind(set_status_cmd, settings))
    unfold = w_sub.add_parser(
        "unfold",
        help="take a report out of its incident order: it gets its own work order again",
        description="For a report folded into an incident order by mistake (another problem, another place): its "
        "per-report order merged at the alert is open again, or a new one is issued; the incident order's assignee "
        "gets an update naming it. Example: hub workorders unfold rep-2021-004711 --by an.peeters",
    )
    unfold.add_argument("report_id", help="the report id")
    unfold.add_argument("--by", help="who does it (default: the login name)")
    command(unfold, bind(unfold_cmd, settings))


def _run(settings: CliSettings, job: Callable[[Any], Awaitable[T]]) -> T:
    from infra.db import command_sessions

    async def go() -> T:
        async with command_sessions(settings.database_url, upgrade=True) as sessions:
            return await job(sessions)

    return asyncio.run(go())


def _calendar(settings: CliSettings) -> Any:
    from consumers.domain.calendar import CityCalendar

    return CityCalendar.load(settings.domain.calendar_file)


def list_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    from consumers.contractors.onbehalf import list_orders

    calendar = _calendar(settings)
    today = calendar.local(dt.datetime.now(dt.UTC)).date()

    async def job(sessions: Any) -> Any:
        async with sessions() as session:
            return await list_orders(
                session,
                assignee=args.assignee,
                overdue_on=today if args.overdue else None,
                include_closed=args.all,
                limit=args.limit,
            )

    orders = _run(settings, job)
    if not orders:
        print("no work orders")
        return 0
    print(f"{'work order':<36} {'assignee':<20} {'status':<12} {'due':<10}  report")
    for o in orders:
        late = " OVERDUE" if o.due_date < today and o.status not in ("done", "rejected") else ""
        print(
            f"{o.work_order_id:<36} {o.assignee:<20} {o.status:<12} {o.due_date.isoformat():<10}  {o.report_id}{late}"
        )
    return 0


def show_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    from consumers.contractors.onbehalf import find_order, history

    calendar = _calendar(settings)

    async def job(sessions: Any) -> Any:
        from consumers.router.incident_records import linked_reports

        async with sessions() as session:
            return (
                await find_order(session, args.work_order_id),
                await history(session, args.work_order_id),
                await linked_reports(session, args.work_order_id),
            )

    order, events, folded = _run(settings, job)
    if order is None:
        print(f"error: no work order {args.work_order_id}", file=sys.stderr)
        return 1

    def when(moment: dt.datetime) -> str:
        return str(calendar.local(moment).strftime("%Y-%m-%d %H:%M"))

    print(f"work order {order.work_order_id} (report {order.report_id})")
    print(f"  assignee {order.assignee}, category {order.category}, status {order.status}")
    print(f"  issued {when(order.issued_at)}, due {order.due_date.isoformat()}")
    if order.kind == "incident":
        print(f"  incident order: {len(folded)} report(s) folded into it: {', '.join(folded[:20])}")
    if not events:
        print("  no status changes")
    for e in events:
        extra = "".join(
            f", {label} {value}"
            for label, value in (("planned for", e.planned_for), ("reason", e.reason), ("note", e.note))
            if value
        )
        print(f"  {when(e.changed_at)}  {e.previous_status} -> {e.status}  by {e.sender}{extra}")
    return 0


def set_status_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    """Long because it reads the order, builds the change, applies it and explains each outcome in one place."""
    from consumers.contractors.onbehalf import OnBehalf, Outcome, find_order
    from consumers.contractors.rules import Sender
    from consumers.contractors.status import StatusService
    from consumers.domain.catalogue import Catalogue
    from consumers.router.incident_records import merged_into
    from contracts import WorkOrderStatusChanged
    from infra.batcher import TransactionBatcher
    from infra.errors import PermanentError, describe

    calendar = _calendar(settings)
    catalogue = Catalogue.load(settings.domain.categories_file, settings.domain.assignees_file)
    author = (args.by or getpass.getuser()).strip()
    at = args.at or dt.datetime.now(dt.UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=calendar.tz)

    async def job(sessions: Any) -> tuple[str, str, str] | str:
        async with sessions() as session:
            order = await find_order(session, args.work_order_id)
            into = await merged_into(session, args.work_order_id) if order and order.status == "merged" else None
        if order is None:
            return f"no work order {args.work_order_id}"
        if order.status == "merged":
            # An assignee's answer that crossed the merge is recorded, not applied (StatusService); staff acting now
            # are told where the job is followed instead, and nothing is recorded on this order.
            return (
                f"work order {order.work_order_id} was merged into incident order {into or '(taken out since)'}: "
                "nothing recorded; set the status on the incident order"
            )
        try:
            change = WorkOrderStatusChanged(
                work_order_id=order.work_order_id,
                assignee=order.assignee,
                status=WorkOrderStatus(args.status),
                changed_at=at,
                planned_for=args.planned_for,
                reason=args.reason,
                note=args.note,
            )
        except ValueError as exc:
            return describe(exc)
        sender = Sender.staff(author, order.assignee)
        service = StatusService(
            catalogue, calendar, user_prefix=settings.contractors.contractor_user_prefix, trusted_users=frozenset()
        )
        batcher = TransactionBatcher("status", sessions)
        try:
            outcome = await OnBehalf(service, batcher).apply(change, sender, f"staff-{uuid.uuid4()}")
        except PermanentError as exc:
            return str(exc)
        finally:
            await batcher.stop()
        return outcome, order.status, sender.label()

    result = _run(settings, job)
    if isinstance(result, str):
        print(f"error: {result}", file=sys.stderr)
        return 1
    outcome, before, who = result
    if outcome == Outcome.APPLIED:
        print(f"work order {args.work_order_id}: {before} -> {args.status}, recorded as {who}")
    else:
        print(f"work order {args.work_order_id}: already {before}, nothing changed")
    return 0


def unfold_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    from consumers.domain.catalogue import Catalogue
    from consumers.domain.places import PlaceFinder
    from consumers.router.incidents import IncidentFolding
    from infra.batcher import TransactionBatcher
    from infra.outbox import Outgoing

    calendar = _calendar(settings)
    domain = settings.domain
    catalogue = Catalogue.load(domain.categories_file, domain.assignees_file)
    places = PlaceFinder.load(domain.boundaries_file, domain.places_file)
    folding = IncidentFolding(catalogue, calendar, places=places)
    author = (args.by or getpass.getuser()).strip()

    async def job(sessions: Any) -> list[Outgoing] | str:
        found: list[Outgoing] = []

        async def go(session: Any) -> list[Outgoing]:
            found.extend(await folding.unfold(session, args.report_id, by=f"staff:{author}"))
            return found

        batcher = TransactionBatcher("router", sessions)
        try:
            await batcher.run(go)
        except LookupError as exc:
            return str(exc.args[0])
        return found

    result = _run(settings, job)
    if isinstance(result, str):
        print(f"error: {result}", file=sys.stderr)
        return 1
    if not result:
        print(f"report {args.report_id} is not folded into an incident order: nothing changed")
        return 0
    print(f"report {args.report_id} taken out of its incident order by {author}: {len(result)} message(s) sent")
    return 0

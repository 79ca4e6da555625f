"""`hub alerts list|silence|unsilence|broadcast` and `hub spikes backfill`: `register` adds them to the `hub` command line.

A silence is a row of `alert_silences`; the spikes consumer reads the silences in every transaction, so a
new one applies from the next message on, in every replica. Times: a silence ends `--for` after now, or
`--until` a moment; it is matched against event time (the time stamped in the messages), which is the
clock's time in live operation.

`broadcast` tells the hub that the communication team posted its notice about an incident: it publishes an
`IncidentBroadcast` on `city.events`, as any of the city's tools may, and the statistics mark it on the
incident's timeline (the calls should fall off after it).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.domain.calendar import CityCalendar
from consumers.domain.settings import DomainSettings
from consumers.notifier.tables import AlertNotification
from consumers.spikes.actions import cancel_silence, create_silence, incident_scope, publish_broadcast
from consumers.spikes.config import load_spike_config
from consumers.spikes.engine import EngineState
from consumers.spikes.lifecycle import Incident
from consumers.spikes.settings import SpikesSettings
from consumers.spikes.silences import Scope, SilenceError, parse_duration, scope_of
from consumers.spikes.store import STATE_ROW, aware, utc
from consumers.spikes.tables import Alert, AlertSilence, SpikeState
from contracts import BroadcastChannel, IncidentBroadcast
from infra.cli import Subparsers, bind, command
from infra.clock import utcnow
from infra.db import command_sessions
from infra.errors import describe


class CliSettings(Protocol):
    """What these commands read of the hub's settings (the composition root passes its own)."""

    @property
    def amqp_url(self) -> str: ...

    @property
    def database_url(self) -> str: ...

    @property
    def domain(self) -> DomainSettings: ...

    @property
    def spikes(self) -> SpikesSettings: ...


def _tz(settings: CliSettings) -> ZoneInfo:
    """The city's time zone: the calendar's, the one source."""
    return CityCalendar.load(settings.domain.calendar_file).tz


@dataclass
class Overview:
    watermark: dt.datetime | None
    incidents: list[Incident]
    silences: list[AlertSilence]
    alerts: list[Alert]
    notifications: dict[tuple[str, str], int]


async def overview(
    sessions: async_sessionmaker[AsyncSession],
    settings: CliSettings,
    *,
    limit: int,
    all_silences: bool,
    now: dt.datetime,
) -> Overview:
    config = load_spike_config(settings.spikes.file, timezone=_tz(settings).key)
    async with sessions() as session:
        raw = (await session.execute(select(SpikeState.state).where(SpikeState.name == STATE_ROW))).scalar()
        state = EngineState.from_dict(config, dict(raw or {}))
        silences_q = select(AlertSilence).order_by(AlertSilence.created_at.desc())
        if not all_silences:
            silences_q = silences_q.where(AlertSilence.cancelled_at.is_(None), AlertSilence.ends_at > utc(now))
        silences = list((await session.execute(silences_q)).scalars())
        alerts = list((await session.execute(select(Alert).order_by(Alert.id.desc()).limit(limit))).scalars())
        counts = (
            await session.execute(
                select(AlertNotification.channel, AlertNotification.state, func.count()).group_by(
                    AlertNotification.channel, AlertNotification.state
                )
            )
        ).all()
    return Overview(
        watermark=state.watermark,
        incidents=state.book.incidents(),
        silences=silences,
        alerts=alerts,
        notifications={(c, s): int(n) for c, s, n in counts},
    )


def render(view: Overview, tz: ZoneInfo) -> str:
    def when(moment: dt.datetime | None) -> str:
        return "-" if moment is None else aware(moment).astimezone(tz).strftime("%Y-%m-%d %H:%M")

    lines = [f"Event time reached: {when(view.watermark)}", "", f"Live incidents ({len(view.incidents)}):"]
    for i in view.incidents:
        streets = f" streets {', '.join(i.scope_streets)}" if i.scope_streets else ""
        lines.append(
            f"  {i.incident_id}  {i.scope.value}{streets}  since {when(i.onset)}  "
            f"{i.observed} in {i.window_minutes} min (expected {i.expected:.2f})  total {i.total_observed}"
        )
    lines += ["", f"Silences ({len(view.silences)}):"]
    for s in view.silences:
        state = "cancelled" if s.cancelled_at is not None else "in force"
        where = Scope(s.category, s.district, s.street).describe()
        lines.append(
            f"  {s.silence_id}  {where}  until {when(s.ends_at)}  {state}  by {s.created_by or '-'}: {s.reason}"
        )
    lines += ["", f"Alerts, newest first ({len(view.alerts)} shown):"]
    for a in view.alerts:
        reason = f"  ({a.reason})" if a.reason else ""
        lines.append(f"  {when(a.event_at)}  {a.state:<10} {a.kind:<22} {a.incident_id}{reason}")
    lines += ["", "Deliveries to the communication team:"]
    if not view.notifications:
        lines.append("  none")
    for channel in sorted({c for c, _ in view.notifications}):
        states = ", ".join(f"{s} {n}" for (c, s), n in sorted(view.notifications.items()) if c == channel)
        lines.append(f"  {channel}: {states}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# The commands


class _DatabaseError(Exception):
    """The database could not be read or written (unreachable, or its schema not upgraded)."""


def _run(settings: CliSettings, job: Any) -> Any:
    async def _go() -> Any:
        try:
            async with command_sessions(settings.database_url) as sessions:
                return await job(sessions)
        except DBAPIError as exc:
            raise _DatabaseError(f"{describe(exc)} (is the schema up to date? `hub db upgrade`)") from exc

    return asyncio.run(_go())


def _reported(
    command: Callable[[argparse.Namespace, CliSettings], int],
) -> Callable[[argparse.Namespace, CliSettings], int]:
    """A command that prints a database failure as one line instead of a traceback."""

    def run(args: argparse.Namespace, settings: CliSettings) -> int:
        try:
            return command(args, settings)
        except _DatabaseError as exc:
            # The hub's command line makes the one line and exit code of it (unreachable, no schema, ...).
            raise (exc.__cause__ or exc) from None

    return run


@_reported
def alerts_list_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    now = utcnow()
    view = _run(settings, lambda s: overview(s, settings, limit=args.limit, all_silences=args.all_silences, now=now))
    print(render(view, _tz(settings)))
    return 0


@_reported
def alerts_silence_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    now = utcnow()
    try:
        if args.until is not None:
            ends_at = args.until if args.until.tzinfo else args.until.replace(tzinfo=_tz(settings))
        else:
            ends_at = now + parse_duration(args.duration)
        if ends_at <= now:
            raise SilenceError("the silence would end in the past", "ends_in_past")
        if not args.reason.strip():
            raise SilenceError("give a reason (it is shown with every alert the silence holds back)", "no_reason")
        if args.incident:
            if args.key or args.category or args.district or args.street:
                raise SilenceError("give an incident id, or a key, or a category and/or area", "incident_and_key")
            scope = _run(settings, lambda s: incident_scope(s, args.incident))
        else:
            scope = scope_of(key=args.key, category=args.category, district=args.district, street=args.street)
    except SilenceError as exc:
        print(f"error: {exc}")
        return 1
    by = args.by or getpass.getuser()
    silence_id = _run(
        settings,
        lambda s: create_silence(s, scope, ends_at=ends_at, reason=args.reason.strip(), created_by=by, now=now),
    )
    local = ends_at.astimezone(_tz(settings)).strftime("%Y-%m-%d %H:%M")
    print(f"{silence_id}: alerts for {scope.describe()} are silenced until {local}")
    return 0


@_reported
def alerts_unsilence_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    done = _run(settings, lambda s: cancel_silence(s, args.silence_id, utcnow()))
    if not done:
        print(f"error: no silence {args.silence_id!r} in force")
        return 1
    print(f"{args.silence_id}: cancelled; a live incident it held back is announced at the next message")
    return 0


@_reported
def alerts_broadcast_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    tz = _tz(settings)
    now = utcnow()
    at = now if args.at is None else (args.at if args.at.tzinfo else args.at.replace(tzinfo=tz))
    if at > now + dt.timedelta(minutes=5):
        print("error: the broadcast time is in the future")
        return 1
    try:
        _run(settings, lambda s: incident_scope(s, args.incident_id))  # a typo is caught here, not in a DLQ
    except SilenceError as exc:
        print(f"error: {exc}")
        return 1
    broadcast = IncidentBroadcast(
        incident_id=args.incident_id,
        broadcast_at=at,
        channels=[BroadcastChannel(c) for c in dict.fromkeys(args.channel or ["website"])],
    )
    try:
        event_id = asyncio.run(publish_broadcast(settings.amqp_url, broadcast))
    except Exception as exc:
        print(f"error: the broadcast was not published: {describe(exc)}")
        return 1
    local = at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    channels = ", ".join(c.value for c in broadcast.channels)
    print(f"{event_id}: broadcast of {args.incident_id} at {local} on {channels} published")
    return 0


# --------------------------------------------------------------------------------------------------
# `hub spikes backfill FILE`


def register(sub: Subparsers, settings: Callable[[], CliSettings]) -> None:
    """Add `hub alerts list|silence|unsilence|broadcast` and `hub spikes backfill FILE`."""
    alerts = sub.add_parser(
        "alerts", help="spike alerts for the communication team: list, silence, unsilence, broadcast"
    )
    al_sub = alerts.add_subparsers(metavar="ACTION")
    _add_alerts_list(al_sub, settings)
    _add_alerts_silence(al_sub, settings)
    al_unsilence = al_sub.add_parser("unsilence", help="cancel a silence now")
    al_unsilence.add_argument("silence_id", help="the silence id `hub alerts list` shows (sil-...)")
    command(al_unsilence, bind(alerts_unsilence_cmd, settings))
    _add_alerts_broadcast(al_sub, settings)
    _add_spikes_backfill(sub, settings)


def _add_alerts_list(al_sub: Subparsers, settings: Callable[[], CliSettings]) -> None:
    al_list = al_sub.add_parser("list", help="live incidents, silences, recent alerts and their deliveries")
    al_list.add_argument("--limit", type=int, default=30, help="alerts shown (default 30)")
    al_list.add_argument("--all-silences", action="store_true", help="also ended and cancelled silences")
    command(al_list, bind(alerts_list_cmd, settings))


def _add_alerts_silence(al_sub: Subparsers, settings: Callable[[], CliSettings]) -> None:
    al_silence = al_sub.add_parser(
        "silence",
        help="hold back the alerts of an incident key, an incident, or a category and/or area for a while",
        description="Silenced spikes are still recorded (state 'suppressed' in `hub alerts list`) but not sent.",
    )
    al_silence.add_argument("--key", help="an incident key, e.g. 'waste.missed_collection|district:Brustem'")
    al_silence.add_argument("--incident", help="an incident id from `hub alerts list` (its category and district)")
    al_silence.add_argument("--category", help="a category code")
    al_silence.add_argument("--district", help="a district")
    al_silence.add_argument("--street", help="a street (with --district)")
    al_span = al_silence.add_mutually_exclusive_group(required=True)
    al_span.add_argument("--for", dest="duration", metavar="DURATION", help="how long, e.g. 90m, 4h, 2d")
    al_span.add_argument(
        "--until", type=dt.datetime.fromisoformat, help="until this moment (ISO; city time without an offset)"
    )
    al_silence.add_argument("--reason", required=True, help="why (kept with every alert it holds back)")
    al_silence.add_argument("--by", help="who silences (default: the login name)")
    command(al_silence, bind(alerts_silence_cmd, settings))


def _add_alerts_broadcast(al_sub: Subparsers, settings: Callable[[], CliSettings]) -> None:
    al_broadcast = al_sub.add_parser(
        "broadcast",
        help="record that the communication team posted its notice about an incident (marked on its timeline)",
    )
    al_broadcast.add_argument("incident_id", help="an incident id from `hub alerts list`")
    al_broadcast.add_argument(
        "--at", type=dt.datetime.fromisoformat, help="when it went out (ISO; city time without an offset; default now)"
    )
    al_broadcast.add_argument(
        "--channel",
        action="append",
        choices=[c.value for c in BroadcastChannel],
        help="where it was posted (repeat; default website)",
    )
    command(al_broadcast, bind(alerts_broadcast_cmd, settings))


def _add_spikes_backfill(sub: Subparsers, settings: Callable[[], CliSettings]) -> None:
    spikes = sub.add_parser("spikes", help="spike detection: load a city's history before going live")
    sp_sub = spikes.add_subparsers(metavar="ACTION")
    backfill = sp_sub.add_parser(
        "backfill",
        help="load history (JSON lines of the public contract, or CSV) into the spike counts, publishing nothing",
        description=(
            "Counts each call and report of FILE once (a second run changes nothing), never judges them and "
            "publishes nothing, so the baseline is ready before the first live message. JSON lines: CallLogged or "
            "ReportFiled messages (bare, as `hub simulate` writes them, or as CloudEvents). CSV: a header with "
            "time, category, district, street, channel (phone/web/app/email: a report; call: a call). "
            "See consumers/spikes/backfill.py."
        ),
    )
    backfill.add_argument("file", type=Path, help="the history file (.jsonl/.json/.ndjson or .csv, optionally .gz)")
    command(backfill, bind(spikes_backfill_cmd, settings))


@_reported
def spikes_backfill_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from consumers.domain.catalogue import Catalogue
    from consumers.spikes.backfill import BackfillError, load_history

    path: Path = args.file
    if not path.is_file():
        print(f"error: no such file: {path}")
        return 1
    config = load_spike_config(settings.spikes.file, timezone=_tz(settings).key)
    catalogue = Catalogue.load(settings.domain.categories_file, settings.domain.assignees_file)

    def category_of(subject: str) -> str | None:
        category = catalogue.category_for_call_subject(subject)
        return category.code if category is not None else None

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("backfill"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    # Compressed files advance by the uncompressed bytes read: the bar then runs ahead of its total.
    task = progress.add_task("backfill", total=path.stat().st_size)
    try:
        with progress:
            result = _run(
                settings,
                lambda s: load_history(
                    s,
                    path,
                    config,
                    category_of,
                    now=utcnow(),
                    on_bytes=lambda n: progress.advance(task, n),
                ),
            )
    except BackfillError as exc:
        print(f"error: {path.name}: {exc}")
        return 1
    tz = _tz(settings)
    span = (
        ""
        if result.earliest is None or result.latest is None
        else f", from {result.earliest.astimezone(tz):%Y-%m-%d} to {result.latest.astimezone(tz):%Y-%m-%d}"
    )
    print(
        f"{path.name}: {result.counted:,} contacts counted{span}; {result.already:,} counted before; "
        f"{result.skipped:,} lines count nowhere (service calls, other records). Nothing was published."
    )
    return 0

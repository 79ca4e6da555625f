"""`hub demo`: the hub's main job on the embedded default, with simulated city traffic to show it working.

All consumers start in this process (SQLite file, RabbitMQ on localhost). The simulator plays the city's
calls and reports as city systems would publish them: first a quiet history (so the spike detector has
learned the city's weekly rhythm), then a few days with incidents. Progress bars follow the consumers;
at the end the figures of this run are printed, with the alerts raised and their draft broadcast text.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from consumers.contractors.tables import WorkOrderEvent
from consumers.domain.calendar import CityCalendar
from consumers.router.incident_records import folding_figures
from consumers.router.tables import Report, WorkOrder
from consumers.spikes.actions import publish_broadcast
from consumers.spikes.tables import Alert
from consumers.stats.queries import Period
from consumers.stats.saved import notice_figure
from consumers.stats.tables import StatCall, StatIncident, StatWorkOrderEvent
from consumers.stats.workorders import WorkOrderFigures, workorder_figures
from contracts import BroadcastChannel, CallLogged, IncidentBroadcast, ReportFiled
from hub.bootstrap import Hub, build_hub
from hub.failures import CommandError
from hub.settings import Settings
from hub.simulator import PlantedIncident, Scenario, describe, publish, simulate
from hub.simulator.contractors import SimulatedContractors, simulated_secrets
from hub.topology import CONSUMERS
from infra.db.dialect import chunks
from infra.db.tables import InboxEntry
from infra.relay import pending_count

BRUSSELS = ZoneInfo("Europe/Brussels")


@dataclass(frozen=True)
class DemoOptions:
    start: dt.date = dt.date(2021, 3, 15)
    days: int = 5
    incidents: int = 3
    history_days: int = 15
    seed: int | None = None
    timeout_s: float = 600.0


@dataclass(frozen=True)
class DemoFigures:
    calls_by_topic: dict[str, int]
    calls_by_outcome: dict[str, int]
    reports_per_category: dict[str, int]
    work_orders_per_assignee: dict[str, int]
    alerts: list[dict[str, str]] = field(default_factory=list)
    # Every day of the run (history and live), as of the day after the last: where each assignee stands.
    sla_per_assignee: dict[str, WorkOrderFigures] = field(default_factory=dict)
    answers: str = ""

    # One incident, one job: what folding the live incidents' reports did (router, docs/incidents.md).
    folding: dict[str, int] = field(default_factory=dict)


class _SimulatedAssignees:
    """The simulated assignees of the demo, answering through an in-process `hub serve` (callback, e-mail links)
    and the broker, with secrets made for this run when none are configured."""

    def __init__(self, settings: Settings, hub: Hub, seed: int) -> None:
        from consumers.contractors.links_http import link_signer
        from hub.http import create_http_app

        webhooks, links = simulated_secrets(hub.domain.catalogue)
        contractors = settings.contractors.model_copy(
            update={
                "webhook_secrets": settings.contractors.webhook_secrets or webhooks,
                "contractor_link_secrets": settings.contractors.contractor_link_secrets or links,
            }
        )
        # Only the in-process HTTP side knows these secrets: the hub's own deliveries still wait for real ones.
        self.settings = settings.model_copy(update={"contractors": contractors})
        self.app = create_http_app(self.settings)
        self.hub = hub
        self._stack = contextlib.AsyncExitStack()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://demo")
        self.assignees = SimulatedContractors(
            hub.domain.catalogue,
            amqp_url=settings.amqp_url,
            tz=hub.domain.calendar.tz,
            http=self.http,
            webhook_secrets=contractors.webhook_secrets,
            links=link_signer(contractors),
            seed=seed,
        )

    async def start(self) -> None:
        await self._stack.enter_async_context(self.app.router.lifespan_context(self.app))
        await self._stack.enter_async_context(self.http)
        await self.assignees.start()

    async def finish(self, horizon: dt.datetime, deadline: float) -> None:
        await self.assignees.settle(1.0, timeout_s=max(1.0, deadline - time.monotonic()))
        await self.assignees.finish(horizon)
        # Applied by the status consumer (broker) or the HTTP side, then counted by the statistics.
        settled = 0
        while time.monotonic() < deadline and settled < 3:
            async with self.hub.sessions() as session:
                applied = (await session.execute(select(func.count()).select_from(WorkOrderEvent))).scalar_one()
                counted = (await session.execute(select(func.count()).select_from(StatWorkOrderEvent))).scalar_one()
            pending = await pending_count(self.hub.sessions)
            settled = settled + 1 if applied == counted and not pending else 0
            await asyncio.sleep(0.3)

    async def stop(self) -> None:
        await self.assignees.stop()
        await self._stack.aclose()


async def run_demo(settings: Settings, options: DemoOptions, console: Console | None = None) -> DemoFigures:
    """`hub demo`: simulate quiet history and live days, run every consumer on them, then print the figures.

    Long because it is the demo's script in the order a viewer sees it: the traffic, the hub started, the
    publishing with its progress bar, the team's notices, waiting until every consumer has applied what it was
    sent, the assignees' answers, then the figures; each step waits on rows in the database, not on sleeps.
    """
    console = console or Console()
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(1, 2**31)
    # The live days are `hub simulate --seed SEED` of the same days (the seed every line of the output names); the
    # quiet history before them is drawn from the next seed.
    history = simulate(
        start=options.start - dt.timedelta(days=options.history_days),
        days=options.history_days,
        seed=seed + 1,
        incidents=0,
    )
    live = simulate(start=options.start, days=options.days, seed=seed, incidents=options.incidents)
    events = [*history.events, *live.events]
    event_ids = [e.event_id for e in events]
    report_ids = [e.message.report_id for e in events if isinstance(e.message, ReportFiled)]
    call_ids = [e.message.call_id for e in events if isinstance(e.message, CallLogged)]
    live_reports = [e.message.report_id for e in live.events if isinstance(e.message, ReportFiled)]
    live_calls = [e.message.call_id for e in live.events if isinstance(e.message, CallLogged)]

    console.rule("[bold]City contact hub: demo")
    console.print(
        f"Database {settings.database_url}   broker {_safe(settings.amqp_url)}\n"
        f"Consumers: {', '.join(CONSUMERS)}\n"
        f"Traffic (seed {seed}): {options.history_days} quiet days from {history.start} so the spike detector learns "
        f"the city's rhythm, then {options.days} days from {options.start} with {len(live.incidents)} incidents: "
        f"{len(call_ids)} calls and {len(report_ids)} reports in all."
    )

    hub = build_hub(settings)
    await hub.start()
    wall_start = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    tz = CityCalendar.load(settings.domain.calendar_file).tz
    horizon = dt.datetime.combine(options.start + dt.timedelta(days=options.days), dt.time(), tzinfo=tz)
    answering = _SimulatedAssignees(settings, hub, seed)
    await answering.start()
    try:
        with Progress(
            TextColumn("{task.description:<34}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            published = progress.add_task("published by city systems", total=len(events))
            report_event_ids = [e.event_id for e in events if isinstance(e.message, ReportFiled)]
            watched = {
                "router": (progress.add_task("reports routed (router)", total=len(report_ids)), report_event_ids),
                "stats": (progress.add_task("calls and reports counted (stats)", total=len(events)), event_ids),
                "spikes": (progress.add_task("calls and reports watched (spikes)", total=len(events)), event_ids),
            }
            publisher = asyncio.create_task(
                publish(
                    events, amqp_url=settings.amqp_url, on_progress=lambda n: progress.update(published, completed=n)
                )
            )
            deadline = time.monotonic() + options.timeout_s
            # Each round counts every message id in three inboxes: a year's 80,000 ids every 0.25 s kept the
            # database busier than the consumers.
            poll_s = min(2.0, max(0.25, len(events) / 20_000))
            while True:
                done = True
                for consumer, (task, ids) in watched.items():
                    n = await _applied(hub.sessions, consumer, ids)
                    progress.update(task, completed=n)
                    done = done and n >= len(ids)
                if done and publisher.done():
                    break
                if time.monotonic() > deadline:
                    raise _late(f"the consumers did not catch up within {options.timeout_s:g} s")
                await asyncio.sleep(poll_s)
            await publisher
            # The communication team posts its notice (at the time the simulation planted it) and says so with
            # `spike.broadcast`, as `hub alerts broadcast` does: the statistics mark it on the incident's timeline.
            posted = await _post_broadcasts(hub.sessions, settings.amqp_url, live.incidents, wall_start)
            while await _applied(hub.sessions, "stats", posted) < len(posted):
                if time.monotonic() > deadline:
                    raise _late("the statistics did not record the broadcasts in time")
                await asyncio.sleep(0.1)
            # The router folds by the alerts too (spike.detected / spike.resolved): wait until it has applied them.
            alert_ids = await _sent_alerts(hub.sessions, wall_start)
            while await _applied(hub.sessions, "router", alert_ids) < len(alert_ids):
                if time.monotonic() > deadline:
                    raise _late("the router did not apply the alerts in time")
                await asyncio.sleep(0.1)
            # Work orders and alerts are in the outbox once applied; wait until the relay has published them.
            while await pending_count(hub.sessions) and time.monotonic() < deadline:  # noqa: ASYNC110 - polling the DB
                await asyncio.sleep(0.1)
            # The simulated assignees answer what they had done by the end of the live days (event time).
            await answering.finish(horizon, deadline)
        elapsed = time.perf_counter() - started
        figures = await _figures(
            hub.sessions, live_calls, live_reports, wall_start, CityCalendar.load(settings.domain.calendar_file)
        )
        async with hub.sessions() as session:
            figures.sla_per_assignee.update(
                await workorder_figures(
                    session,
                    Period(history.start or options.start, horizon.date() - dt.timedelta(days=1)),
                    "assignee",
                    tz=tz,
                    as_of=horizon.date(),
                )
            )
        password = await _demo_user(hub.sessions, settings)
    finally:
        await answering.stop()
        await hub.stop()

    figures = dataclasses.replace(figures, answers=answering.assignees.summary())
    _print_figures(console, live, figures, elapsed, len(events))
    console.rule("[bold]The dashboard and the console")
    console.print(
        f"HUB_DATABASE_URL={settings.database_url} hub serve\n"
        f"then open http://127.0.0.1:8080/console/login and sign in as [bold]{DEMO_USER}[/] with the password "
        f"[bold]{password}[/] (made for this run; every role: the dashboard is under Management)."
    )
    return figures


DEMO_USER = "demo"


def _late(what: str) -> CommandError:
    """The demo ran out of time: one line (`hub: error: ...`, exit 1), not a traceback; how to give it longer."""
    return CommandError(f"{what}: `hub demo --timeout SECONDS` gives the consumers longer (a simulated year needs it)")


async def _demo_user(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> str:
    """A console user with every role for looking at the demo's figures; a new password each run (printed)."""
    from consumers.console.accounts import ROLES, Accounts, new_password

    accounts = Accounts(sessions, settings.auth)
    password = new_password()
    if any(u.name == DEMO_USER for u in await accounts.users()):
        await accounts.set_password(DEMO_USER, password, actor="demo")
        await accounts.set_roles(DEMO_USER, ROLES, actor="demo")
        await accounts.enable(DEMO_USER, actor="demo")
    else:
        await accounts.add_user(DEMO_USER, ROLES, password, actor="demo")
    return password


async def _applied(sessions: async_sessionmaker[AsyncSession], consumer: str, message_ids: list[str]) -> int:
    """How many of these messages the consumer has committed (its inbox is the truth)."""
    async with sessions() as session:
        total = 0
        for chunk in chunks(message_ids):
            stmt = (
                select(func.count())
                .select_from(InboxEntry)
                .where(InboxEntry.consumer == consumer, InboxEntry.message_id.in_(chunk))
            )
            total += (await session.execute(stmt)).scalar_one()
        return int(total)


async def _grouped(
    session: AsyncSession, column: InstrumentedAttribute[str], key: InstrumentedAttribute[str], ids: list[str]
) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for chunk in chunks(ids):
        rows = await session.execute(select(column, func.count()).where(key.in_(chunk)).group_by(column))
        counts.update({str(k): int(n) for k, n in rows.all()})
    return dict(counts)


async def _figures(
    sessions: async_sessionmaker[AsyncSession],
    call_ids: list[str],
    report_ids: list[str],
    since: dt.datetime,
    calendar: CityCalendar,
) -> DemoFigures:
    async with sessions() as session:
        by_topic = await _grouped(session, StatCall.topic, StatCall.call_id, call_ids)
        by_outcome = await _grouped(session, StatCall.outcome, StatCall.call_id, call_ids)
        per_category = await _grouped(session, Report.category, Report.report_id, report_ids)
        per_assignee = await _grouped(session, WorkOrder.assignee, WorkOrder.report_id, report_ids)
        rows = await session.execute(
            select(Alert)
            .where(Alert.created_at >= since, Alert.kind.in_(("detected", "resolved")))
            .order_by(Alert.event_at)
        )
        alerts = [await _alert_line(session, alert, calendar) for alert in rows.scalars()]
        folded = await folding_figures(session, report_ids)
    return DemoFigures(by_topic, by_outcome, per_category, per_assignee, alerts, folding=folded)


async def _sent_alerts(sessions: async_sessionmaker[AsyncSession], since: dt.datetime) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(
            select(Alert.alert_id).where(
                Alert.created_at >= since, Alert.kind.in_(("detected", "resolved")), Alert.state == "sent"
            )
        )
        return list(rows.scalars())


async def _post_broadcasts(
    sessions: async_sessionmaker[AsyncSession],
    amqp_url: str,
    planted: Iterable[PlantedIncident],
    since: dt.datetime,
) -> list[str]:
    """For each incident the hub alerted, the simulated team's notice; the event ids of the broadcasts."""
    async with sessions() as session:
        rows = await session.execute(
            select(Alert).where(Alert.created_at >= since, Alert.kind == "detected").order_by(Alert.event_at)
        )
        alerts = list(rows.scalars())
    posted: list[str] = []
    for alert in alerts:
        match = next(
            (
                p
                for p in planted
                if p.broadcast_at is not None
                and (p.category, p.district) == (alert.category, alert.district)
                and p.started_at <= alert.event_at <= p.ended_at + dt.timedelta(hours=2)
            ),
            None,
        )
        if match is not None and match.broadcast_at is not None:
            notice = IncidentBroadcast(
                incident_id=alert.incident_id,
                broadcast_at=match.broadcast_at,
                channels=[BroadcastChannel.WEBSITE, BroadcastChannel.FACEBOOK],
            )
            posted.append(await publish_broadcast(amqp_url, notice))
    return posted


async def _broadcast_line(session: AsyncSession, alert: Alert, calendar: CityCalendar) -> str:
    """When the notice went out and what it saved (the statistics' estimate, docs/statistics.md)."""
    at = (
        await session.execute(select(StatIncident.broadcast_at).where(StatIncident.incident_id == alert.incident_id))
    ).scalar_one_or_none()
    if at is None:
        return ""
    figure = await notice_figure(session, calendar, category=alert.category, district=alert.district, broadcast_at=at)
    s = figure.saved if figure else None
    if s is None:
        return f"{at.astimezone(BRUSSELS):%H:%M}: no call about it in the hour before the notice, nothing to project"
    return (
        f"{at.astimezone(BRUSSELS):%H:%M}: {s.calls_before} calls in the hour before, {s.calls_after} in the "
        f"{s.hours_after:.0f} open hours after where {s.expected:.0f} were expected: {s.text}"
    )


async def _alert_line(session: AsyncSession, alert: Alert, calendar: CityCalendar) -> dict[str, str]:
    body = json.loads(alert.body) if alert.body else {}
    return {
        "broadcast": await _broadcast_line(session, alert, calendar) if alert.kind == "detected" else "",
        "kind": alert.kind,
        "incident": alert.incident_key,
        "at": alert.event_at.astimezone(BRUSSELS).strftime("%a %d %b %H:%M"),
        "observed": str(alert.observed),
        "expected": f"{alert.expected:.2f}",
        "draft_nl": str(body.get("draft_nl", "")),
        "draft_en": str(body.get("draft_en", "")),
    }


def _table(title: str, header: tuple[str, str], counts: dict[str, int]) -> Table:
    table = Table(title=title)
    table.add_column(header[0])
    table.add_column(header[1], justify="right")
    for key, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        table.add_row(key, str(n))
    table.add_row("[bold]total", f"[bold]{sum(counts.values())}")
    return table


def _sla_table(per_assignee: dict[str, WorkOrderFigures]) -> Table:
    table = Table(title="Work orders against their SLA, per assignee, as of the end of the run (stats)")
    for name in ("assignee", "issued", "open", "overdue", "done", "rejected", "SLA %"):
        table.add_column(name, justify="left" if name == "assignee" else "right")
    for code, f in sorted(per_assignee.items(), key=lambda kv: -kv[1].issued):
        sla = "-" if f.sla_compliance is None else f"{100 * f.sla_compliance:.1f}"
        table.add_row(code, str(f.issued), str(f.open), str(f.overdue), str(f.done), str(f.rejected), sla)
    return table


def _print_figures(console: Console, live: Scenario, figures: DemoFigures, elapsed: float, events: int) -> None:
    console.rule("[bold]Figures of the live days (from the hub's database)")
    console.print(_table("Calls by topic (stats)", ("topic", "calls"), figures.calls_by_topic))
    console.print(_table("Calls by outcome (stats)", ("outcome", "calls"), figures.calls_by_outcome))
    console.print(_table("Reports per category (router)", ("category", "reports"), figures.reports_per_category))
    console.print(
        _table("Work orders per assignee (router)", ("assignee", "work orders"), figures.work_orders_per_assignee)
    )
    console.print(_sla_table(figures.sla_per_assignee))
    console.print(figures.answers)
    if figures.folding.get("incident_orders"):
        f = figures.folding
        console.print(
            f"One incident, one job (router): {f['reports_folded']} reports folded into {f['incident_orders']} "
            f"incident orders ({f['links']} report x assignee pairs: {f['merged']} per-report orders issued before "
            f"the alert and closed as merged, {f['live']} never issued), {f['updates']} updates sent; "
            f"{f['links'] - f['incident_orders']} per-report orders avoided for the assignees."
        )
    console.rule("[bold]Alerts for the communication team (spikes)")
    if not figures.alerts:
        console.print("No alert was raised.")
    for alert in figures.alerts:
        if alert["kind"] == "detected":
            console.print(
                f"[bold red]SPIKE[/] {alert['at']}  {alert['incident']}  "
                f"{alert['observed']} contacts where {alert['expected']} were expected"
            )
            console.print(f"   NL: {alert['draft_nl']}\n   EN: {alert['draft_en']}")
            if alert["broadcast"]:
                console.print(f"   [bold]broadcast[/] {alert['broadcast']}")
        else:
            console.print(f"[green]resolved[/] {alert['at']}  {alert['incident']}")
    console.rule("[bold]What the simulator planted (ground truth)")
    console.print(describe(live))
    console.print(f"{events} messages handled by {len(CONSUMERS)} consumers in {elapsed:.1f}s.")


def _safe(url: str) -> str:
    return url.split("@", 1)[1] if "@" in url else url

"""`hub demo`: the hub's main job on the embedded default, with simulated city traffic to show it working.

All consumers start in this process (SQLite file, RabbitMQ on localhost); the simulator plays a few days of
the city's calls and reports with incidents, as city systems would publish them; a progress bar follows
the routing; at the end the figures of this run are printed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections import Counter
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts import ReportFiled
from hub.app import CONSUMERS, build_hub
from hub.settings import Settings
from hub.simulator import Scenario, describe, publish, simulate
from infra.db.models import Report, WorkOrder
from infra.relay import pending_count


@dataclass(frozen=True)
class DemoOptions:
    start: dt.date = dt.date(2021, 3, 15)
    days: int = 5
    incidents: int = 2
    seed: int | None = None
    timeout_s: float = 300.0


@dataclass(frozen=True)
class DemoFigures:
    reports_per_category: dict[str, int]
    work_orders_per_assignee: dict[str, int]


async def run_demo(settings: Settings, options: DemoOptions, console: Console | None = None) -> DemoFigures:
    console = console or Console()
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(1, 2**31)
    scenario = simulate(start=options.start, days=options.days, seed=seed, incidents=options.incidents)
    report_ids = [e.message.report_id for e in scenario.events if isinstance(e.message, ReportFiled)]
    console.rule("[bold]City contact hub: demo")
    console.print(
        f"Database {settings.database_url}   broker {_safe(settings.amqp_url)}   consumers: {', '.join(CONSUMERS)}\n"
        f"Scenario: {options.days} days from {options.start} (seed {seed}): "
        f"{len(scenario.events) - len(report_ids)} calls, {len(report_ids)} reports, {len(scenario.incidents)} incidents"
    )

    hub = build_hub(settings)
    await hub.start()
    started = time.perf_counter()
    try:
        with Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            published = progress.add_task("published by city systems", total=len(scenario.events))
            routed = progress.add_task("reports routed", total=len(report_ids))
            publisher = asyncio.create_task(
                publish(
                    scenario.events,
                    amqp_url=settings.amqp_url,
                    on_progress=lambda n: progress.update(published, completed=n),
                )
            )
            deadline = time.monotonic() + options.timeout_s
            while True:
                done = await _routed(hub.sessions, report_ids)
                progress.update(routed, completed=done)
                if done >= len(report_ids) and publisher.done():
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"only {done} of {len(report_ids)} reports routed after {options.timeout_s:.0f}s"
                    )
                await asyncio.sleep(0.2)
            await publisher
            # Work orders are in the outbox once routed; wait until the relay has them on the assignee queues.
            # Polling the database: the relay may run in another process, so there is no event to wait on.
            while await pending_count(hub.sessions) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        elapsed = time.perf_counter() - started
        figures = await _figures(hub.sessions, report_ids)
    finally:
        await hub.stop()

    _print_figures(console, scenario, figures, elapsed)
    return figures


async def _routed(sessions: async_sessionmaker[AsyncSession], report_ids: list[str]) -> int:
    async with sessions() as session:
        total = 0
        for chunk in _chunks(report_ids, 500):
            total += (
                await session.execute(select(func.count()).select_from(Report).where(Report.report_id.in_(chunk)))
            ).scalar_one()
        return int(total)


async def _figures(sessions: async_sessionmaker[AsyncSession], report_ids: list[str]) -> DemoFigures:
    per_category: Counter[str] = Counter()
    per_assignee: Counter[str] = Counter()
    async with sessions() as session:
        for chunk in _chunks(report_ids, 500):
            rows = await session.execute(
                select(Report.category, func.count()).where(Report.report_id.in_(chunk)).group_by(Report.category)
            )
            per_category.update(dict(rows.all()))
            rows = await session.execute(
                select(WorkOrder.assignee, func.count())
                .where(WorkOrder.report_id.in_(chunk))
                .group_by(WorkOrder.assignee)
            )
            per_assignee.update(dict(rows.all()))
    return DemoFigures(dict(per_category), dict(per_assignee))


def _print_figures(console: Console, scenario: Scenario, figures: DemoFigures, elapsed: float) -> None:
    console.rule("[bold]Figures of this run")
    console.print(describe(scenario))
    table = Table(title="Reports per category (routed)")
    table.add_column("category")
    table.add_column("reports", justify="right")
    for category, n in sorted(figures.reports_per_category.items(), key=lambda kv: -kv[1]):
        table.add_row(category, str(n))
    console.print(table)
    table = Table(title="Work orders per assignee")
    table.add_column("assignee")
    table.add_column("work orders", justify="right")
    for assignee, n in sorted(figures.work_orders_per_assignee.items(), key=lambda kv: -kv[1]):
        table.add_row(assignee, str(n))
    console.print(table)
    console.print(f"Done in {elapsed:.1f}s.")


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _safe(url: str) -> str:
    return url.split("@", 1)[1] if "@" in url else url

"""The run's context (Bench) and its database and topology set-up, for every phase of benchmarks/e2e.py."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from benchmarks.e2e_broker import Probe, delete_queues
from benchmarks.e2e_done import log
from benchmarks.e2e_procs import HubGroup, HubRunner, cpu_snapshot
from benchmarks.e2e_reports import ReportFactory


@dataclass
class Bench:
    args: argparse.Namespace
    amqp_url: str
    admin_url: str
    run: str
    factory: ReportFactory
    tmp: Path
    database_url: str = ""
    consumers: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    hub: HubGroup | None = None
    hub_starts: int = 0

    @property
    def workorder_queues(self) -> list[str]:
        from infra.topology import workorder_queue_name

        return [workorder_queue_name(a) for a in self.assignees]

    @property
    def consumer_queues(self) -> list[str]:
        from infra.topology import consumer_queue_name

        return [consumer_queue_name(c) for c in self.consumers]

    def hub_queue_names(self) -> list[str]:
        from hub.topology import CONSUMERS
        from infra.topology import consumer_queue_name, dead_letter_queue_name, retry_queue_name

        names = list(self.workorder_queues)
        for c in CONSUMERS:
            names += [consumer_queue_name(c), retry_queue_name(c), dead_letter_queue_name(c)]
        return names

    def hub_env(self) -> dict[str, str]:
        return {"HUB_DATABASE_URL": self.database_url, "HUB_AMQP_URL": self.amqp_url}

    async def start_hub(self, probe: Probe) -> float:
        """Start the hub; returns the time its last consumer appeared on its queue."""
        groups = [[c] for c in self.consumers] if self.args.split else [self.consumers]
        runners = []
        for names in groups:
            profile = None
            if self.args.profile:
                os.makedirs(self.args.profile, exist_ok=True)
                profile = Path(self.args.profile) / f"hub-{self.hub_starts}-{'+'.join(names)}.prof"
            log_path = self.tmp / f"hub-{'+'.join(names)}.log"
            argv = [*names, "--workers", str(self.args.workers)] if self.args.workers else names
            runners.append(HubRunner(argv, self.hub_env(), log_path, profile, self.args.hub_gc).start())
        self.hub_starts += 1
        self.hub = HubGroup(runners)
        ready = 0.0
        for runner in runners:
            queues = [q for q in self.consumer_queues if q.removeprefix("hub.") in runner.names]
            ready = max(ready, await runner.wait_consuming(probe, queues))
        return ready

    def stop_hub(self) -> None:
        if self.hub is not None:
            codes = self.hub.stop()
            if any(code not in (0, None) for code in codes):
                log(f"hub exited with {codes}: {self.hub.log_tail()}")
            self.hub = None

    # For the phases in benchmarks/e2e_spikes.py.
    log = staticmethod(log)
    cpu_snapshot = staticmethod(cpu_snapshot)

    async def new_database(self, suffix: str) -> None:
        """A fresh migrated database `hub_bench_<run>_<suffix>` for the next hub (the year starts from nothing)."""
        await create_database(self, f"hub_bench_{self.run}_{suffix}")

    async def drop_database(self) -> None:
        await drop_database(self)

    async def reset_queues(self) -> None:
        await delete_queues(self.amqp_url, self.hub_queue_names())
        await declare_hub_topology(self)

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.database_url.replace("postgresql+asyncpg://", "postgresql://"))


async def pg_admin(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_database(bench: Bench, name: str = "") -> None:
    from infra.db import create_engine, upgrade_schema

    name = name or f"hub_bench_{bench.run}"
    await pg_admin(bench.admin_url, f'CREATE DATABASE "{name}"')
    base, _, _ = bench.admin_url.rpartition("/")
    bench.database_url = f"{base}/{name}"
    engine = create_engine(bench.database_url)
    try:
        await upgrade_schema(engine)
    finally:
        await engine.dispose()


async def drop_database(bench: Bench) -> None:
    if bench.database_url:
        name = bench.database_url.rpartition("/")[2]
        await pg_admin(bench.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def declare_hub_topology(bench: Bench) -> None:
    from hub.settings import Settings
    from hub.topology import hub_topology
    from infra.topology import declare_topology

    settings = Settings(amqp_url=bench.amqp_url, database_url=bench.database_url)
    await declare_topology(
        bench.amqp_url,
        hub_topology(bench.consumers, bench.assignees),
        retry_delay_ms=settings.consuming.retry_delay_ms,
        delivery_limit=settings.consuming.delivery_limit,
    )

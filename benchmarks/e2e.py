"""End-to-end benchmark of the whole hub against the broker's own ceiling (issues 5 and 14). Not a test.

    .venv/bin/python -m benchmarks.e2e [--reports N] [--rates 50,200] [--duration S] [--workers N]
                                       [--memory-reports M] [--database-url ADMIN_URL] [--amqp-url URL]
                                       [--phases bare,hub,latency,burst,memory,year] [--quick]

One run, one broker, one PostgreSQL server:
  1. bare    the ceiling: a bare aio-pika hop on durable quorum queues (consume with prefetch 256, decode
             JSON, publish to a second queue with publisher confirm, ack);
  2. hub     the whole hub as a user starts it: `hub run` with every consumer (router, stats, status,
             deliveries, spikes, notifier; the supervisor spreads them over --workers child processes, by
             default one per core) on a fresh migrated database, N reports waiting on `city.events`; from
             the moment the consumers consume until every work order is on its `workorders.<assignee>` queue
             and every other consumer's inbox holds what it is bound to; hub CPU per report summed over the
             supervisor and its children; the bound the topology sets (deliveries and publishes per report);
  3. latency fixed offered loads (50 and 200 reports/s for S s each): publish time to work-order arrival,
             p50/p95/p99;
  4. burst   (benchmarks/e2e_spikes.py) a burst of missed collections in a quiet district: the deciding
             report (and the fifth) -> `spike.detected` on `comms.alerts`;
  5. memory  RSS of a fresh hub while it routes M reports (100,000);
  6. year    (benchmarks/e2e_spikes.py) a simulated 2021 (30,080 calls and their reports) through a fresh hub
             on a fresh database, wall time until every consumer is idle.
`--quick` runs every phase smaller (about 10 minutes on a 2-core machine).

It measures and prints (a table with PASS/MISS per target, then one JSON line); it asserts nothing.
Progress goes to stderr. See benchmarks/README.md for what each figure means and which module holds what.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks import e2e_done, e2e_spikes
from benchmarks.e2e_bare import phase_bare
from benchmarks.e2e_bench import Bench, create_database, declare_hub_topology, drop_database
from benchmarks.e2e_broker import Probe, delete_queues
from benchmarks.e2e_done import log
from benchmarks.e2e_hub import phase_hub
from benchmarks.e2e_latency import phase_latency
from benchmarks.e2e_memory import phase_memory
from benchmarks.e2e_reports import ReportFactory, report_message
from benchmarks.e2e_summary import print_summary

# A vhost of its own (created if missing): the benchmark deletes and re-declares the hub's queues.
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/hub_bench"
DEFAULT_MANAGEMENT = "http://127.0.0.1:15672"
DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.e2e", description=__doc__.split("\n\n")[0])
    p.add_argument("--reports", type=int, default=20_000, help="N for the throughput phases (default 20000)")
    p.add_argument(
        "--rates", default="50,200", help="offered loads of the latency phase, reports/s, comma-separated (50,200)"
    )
    p.add_argument("--duration", type=float, default=30.0, help="seconds of the latency phase")
    p.add_argument("--memory-reports", type=int, default=100_000, help="M for the memory phase (default 100000)")
    p.add_argument("--database-url", default=DEFAULT_DB, help="admin URL of a PostgreSQL server (creates hub_bench_*)")
    p.add_argument("--amqp-url", default=DEFAULT_AMQP, help="broker URL with its vhost (created if missing)")
    p.add_argument(
        "--management-url",
        default=DEFAULT_MANAGEMENT,
        help="RabbitMQ management API, to create a missing vhost (rabbitmqctl where it does not answer)",
    )
    p.add_argument(
        "--phases",
        default="bare,hub,latency,burst,memory,year",
        help="comma-separated subset of bare,hub,latency,burst,memory,year (default: all of them)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="every phase, smaller: 3000 reports, 15 s per rate, 20000 for memory, the first 31 days of the year",
    )
    p.add_argument("--burst-rounds", type=int, default=3, help="bursts, one district each (default 3, at most 4)")
    p.add_argument("--year-days", type=int, default=365, help="days of the simulated 2021 replayed (default 365)")
    p.add_argument("--year-timeout", type=float, default=900.0, help="seconds the year may take to be idle (900)")
    p.add_argument(
        "--workers", type=int, help="`hub run --workers N` (default: the hub's own default, the number of cores)"
    )
    p.add_argument("--seed", type=int, default=5)
    p.add_argument(
        "--filed-within-minutes",
        type=int,
        default=30,
        help="reports are filed up to this many minutes before they are published (default 30: none overdue)",
    )
    p.add_argument(
        "--hub-streams",
        default="spread,backlog",
        help="streams of the hub phase, in order; the first gives the ratio and CPU targets. spread: filed at the "
        "city's real rate over the months before now; backlog: all filed in the last --filed-within-minutes, so "
        "every district spikes (default spread,backlog)",
    )
    p.add_argument("--keep-database", action="store_true", help="leave the benchmark database in place (to study it)")
    p.add_argument(
        "--hub-env", action="append", default=[], metavar="KEY=VALUE", help="extra HUB_* setting for the hub (repeat)"
    )
    p.add_argument("--profile", metavar="DIR", help="run the hub under cProfile, writing DIR/hub-<n>.prof")
    p.add_argument(
        "--hub-gc",
        metavar="SPEC",
        help='garbage-collector tuning for the hub process, e.g. "freeze,10000,50,10" (see gc_wrapper)',
    )
    p.add_argument(
        "--split", action="store_true", help="one hub process per consumer (`hub run router`, `hub run stats`)"
    )
    p.add_argument(
        "--consumers",
        help="consumers the hub runs (default: every consumer), e.g. --consumers router,stats",
    )
    args = p.parse_args(argv)
    if args.quick:  # only what was not given explicitly
        given = set(argv if argv is not None else sys.argv[1:])
        for flag, attr, value in (
            ("--reports", "reports", 3000),
            ("--duration", "duration", 15.0),
            ("--memory-reports", "memory_reports", 20_000),
            ("--year-days", "year_days", 31),
            ("--year-timeout", "year_timeout", 240.0),
        ):
            if not any(g == flag or g.startswith(flag + "=") for g in given):
                setattr(args, attr, value)
    return args


async def main_async(args: argparse.Namespace) -> int:
    # The hub logs at WARNING unless told otherwise (its INFO line per delivery is measured separately).
    os.environ.setdefault("HUB_LOG_LEVEL", "WARNING")
    for item in args.hub_env:
        key, _, value = item.partition("=")
        os.environ[key] = value  # the hub process inherits it; so does Settings() here (topology arguments)
    from hub.bootstrap import Domain
    from hub.settings import Settings
    from hub.topology import CONSUMERS

    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - {"bare", "hub", "latency", "burst", "memory", "year"}
    if unknown:
        raise SystemExit(f"unknown phase(s): {sorted(unknown)}")
    run = uuid.uuid4().hex[:10]
    factory = ReportFactory(run, args.seed, args.filed_within_minutes)
    factory.calibrate()
    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    bench = Bench(args, args.amqp_url, args.database_url, run, factory, tmp)
    if args.consumers:
        bench.consumers = [c.strip() for c in args.consumers.split(",") if c.strip()]
    else:
        bench.consumers = list(CONSUMERS)  # the whole hub, as `hub run` starts it
    bench.assignees = list(Domain.load(Settings()).catalogue.assignees)
    hub_settings = Settings(amqp_url=args.amqp_url, database_url="postgresql+asyncpg://x/y")
    settings = {
        "reports": args.reports,
        "rates": args.rates,
        "workers": args.workers,
        "duration_s": args.duration,
        "memory_reports": args.memory_reports,
        "phases": phases,
        "hub": {
            "prefetch": hub_settings.consuming.prefetch,
            "batch_max_size": hub_settings.consuming.batch_max_size,
            "batch_max_wait_ms": hub_settings.consuming.batch_max_wait_ms,
            "relay_batch_size": hub_settings.relay.batch_size,
            "log_level": hub_settings.log_level,
        },
        "hub_env": args.hub_env,
        "hub_gc": args.hub_gc,
        "split": args.split,
        "loadavg_start": round(os.getloadavg()[0], 2),
        "mix_orders_per_category": factory.orders,
    }
    log(f"run {run}: phases {phases}; hub logs in {tmp}; hub settings {settings['hub']}")
    log(await e2e_done.ensure_vhost(args.amqp_url, args.management_url))
    results: dict[str, Any] = {}
    t_start = time.perf_counter()
    try:
        if "bare" in phases:
            results["bare"] = await phase_bare(bench, args.reports)
        if set(phases) & {"hub", "latency", "burst", "memory", "year"}:
            await create_database(bench)
            async with Probe(bench.amqp_url) as probe:
                await delete_queues(bench.amqp_url, bench.hub_queue_names())
                if "hub" in phases:
                    streams = [x.strip() for x in args.hub_streams.split(",") if x.strip()]
                    for stream in streams:
                        key = "hub" if stream == streams[0] else f"hub_{stream}"
                        results[key] = await phase_hub(bench, probe, args.reports, stream)
                if "latency" in phases:
                    results["latency"] = [
                        await phase_latency(bench, probe, float(rate), args.duration)
                        for rate in args.rates.split(",")
                        if rate.strip()
                    ]
                if "burst" in phases:
                    results["burst"] = await e2e_spikes.phase_burst(
                        bench, probe, args.burst_rounds, report_message=report_message, declare=declare_hub_topology
                    )
                if "memory" in phases:
                    results["memory"] = await phase_memory(bench, probe, args.memory_reports)
                if "year" in phases:
                    results["year"] = await e2e_spikes.phase_year(
                        bench, probe, args.year_days, timeout=args.year_timeout
                    )
    finally:
        bench.stop_hub()
        with contextlib.suppress(Exception):
            await delete_queues(bench.amqp_url, bench.hub_queue_names())
        if args.keep_database:
            log(f"database kept: {bench.database_url}")
        else:
            with contextlib.suppress(Exception):
                await drop_database(bench)
    settings["total_s"] = round(time.perf_counter() - t_start, 1)
    print_summary(bench, results, settings)
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())

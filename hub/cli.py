"""The `hub` command line."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path

from hub.calendar import CityCalendar
from hub.settings import Settings, get_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    settings = get_settings()
    try:
        return int(args.func(args, settings) or 0)
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hub", description="City contact hub: calls and reports in, work orders, alerts and figures out."
    )
    sub = parser.add_subparsers(metavar="COMMAND")

    run = sub.add_parser("run", help="run consumers (all, or some by name) until SIGTERM/SIGINT")
    run.add_argument("names", nargs="*", default=["all"], help="all | router | relay (default: all)")
    run.add_argument("--no-relay", action="store_true", help="do not run the outbox relay in this process")
    run.set_defaults(func=_cmd_run)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(metavar="ACTION")
    up = db_sub.add_parser("upgrade", help="apply the Alembic migrations")
    up.set_defaults(func=_cmd_db_upgrade)

    topo = sub.add_parser("topology", help="broker topology")
    topo_sub = topo.add_subparsers(metavar="ACTION")
    declare = topo_sub.add_parser("declare", help="declare exchanges and queues")
    declare.set_defaults(func=_cmd_topology_declare)

    route = sub.add_parser("route", help="routing rules, offline")
    route.add_argument(
        "--explain", metavar="REPORT.json", type=Path, required=True, help="which rule matches this report, and why"
    )
    route.set_defaults(func=_cmd_route_explain)

    demo = sub.add_parser("demo", help="the main job: all consumers on this machine, with simulated city traffic")
    demo.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2021, 3, 15), help="first simulated day")
    demo.add_argument("--days", type=int, default=5, help="simulated days (default 5)")
    demo.add_argument("--incidents", type=int, default=2, help="planted incidents (default 2)")
    demo.add_argument(
        "--seed", type=int, default=None, help="simulator seed (default: random, so every run is new traffic)"
    )
    demo.set_defaults(func=_cmd_demo)

    sim = sub.add_parser("simulate", help="generate the city's traffic and publish it (or write it to a file)")
    span = sim.add_mutually_exclusive_group()
    span.add_argument("--year", type=int, help="a whole year (30,080 calls by default)")
    span.add_argument("--days", type=int, help="a number of days from --start")
    sim.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2021, 3, 15), help="first day with --days")
    sim.add_argument("--seed", type=int, default=2021)
    sim.add_argument("--calls", type=int, default=None, help="calls in the range (default: the city's rate)")
    sim.add_argument("--incidents", type=int, default=None, help="planted incidents (default: the city's rate)")
    sim.add_argument(
        "--speed", default="max", help="'max' (as fast as the broker takes it), or N for N times real time"
    )
    sim.add_argument(
        "--out", type=Path, help="write the traffic to this JSON-lines file (.gz ok) instead of publishing"
    )
    sim.add_argument("--from-file", type=Path, help="publish a JSON-lines file written before")
    sim.set_defaults(func=_cmd_simulate)

    serve = sub.add_parser("serve", help="HTTP: health probes, AsyncAPI document (read-only)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(func=_cmd_serve)

    contracts = sub.add_parser("contracts", help="the public message contract")
    c_sub = contracts.add_subparsers(metavar="ACTION")
    export = c_sub.add_parser("export", help="write JSON Schemas and the AsyncAPI 3 document")
    export.add_argument("dir", type=Path)
    export.set_defaults(func=_cmd_contracts_export)
    return parser


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from faststream import FastStream

    from hub.app import CONSUMERS, build_app, build_hub
    from hub.logging import configure_logging

    configure_logging(settings.log_level, json_lines=settings.log_json)
    names = list(dict.fromkeys(args.names))
    relay_only = names == ["relay"]
    consumers: list[str] = (
        [] if relay_only else list(CONSUMERS) if "all" in names else [n for n in names if n != "relay"]
    )
    hub = build_hub(settings, consumers=consumers, with_relay=not args.no_relay)
    app: FastStream = build_app(hub)
    asyncio.run(app.run())
    return 0


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from hub.demo import DemoOptions, run_demo
    from hub.logging import configure_logging

    # The progress bar is the demo's output: only warnings from the consumers.
    configure_logging("WARNING", json_lines=False)
    options = DemoOptions(start=args.start, days=args.days, incidents=args.incidents, seed=args.seed)
    asyncio.run(run_demo(settings, options))
    return 0


def _cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from hub.simulator import describe, publish, read_jsonl, simulate, simulate_year, write_jsonl

    speed = None if args.speed == "max" else float(args.speed)
    if args.from_file:
        events = read_jsonl(args.from_file)
        print(f"publishing {len(events)} events from {args.from_file}")
    else:
        calendar = CityCalendar.load(settings.calendar_file)
        if args.year:
            kwargs = {"calls_total": args.calls} if args.calls is not None else {}
            if args.incidents is not None:
                kwargs["incidents"] = args.incidents
            scenario = simulate_year(args.year, seed=args.seed, calendar=calendar, **kwargs)
        else:
            scenario = simulate(
                start=args.start,
                days=args.days or 7,
                seed=args.seed,
                calendar=calendar,
                calls_total=args.calls,
                incidents=args.incidents,
            )
        print(describe(scenario))
        if args.out:
            n = write_jsonl(args.out, scenario)
            print(f"wrote {n} events to {args.out}")
            return 0
        events = scenario.events
    n = asyncio.run(publish(events, amqp_url=settings.amqp_url, speed=speed))
    print(f"published {n} events to {_safe_url(settings.amqp_url)}")
    return 0


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from hub.http import create_http_app
    from hub.logging import configure_logging

    configure_logging(settings.log_level, json_lines=settings.log_json)
    uvicorn.run(create_http_app(settings), host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


def _cmd_db_upgrade(_args: argparse.Namespace, settings: Settings) -> int:
    from infra.db import create_engine, upgrade_schema

    async def _go() -> None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade_schema(engine)
        finally:
            await engine.dispose()

    asyncio.run(_go())
    print(f"schema up to date on {_safe_url(settings.database_url)}")
    return 0


def _cmd_topology_declare(_args: argparse.Namespace, settings: Settings) -> int:
    from hub.app import CONSUMERS, Domain
    from infra.topology import declare_topology

    domain = Domain.load(settings)
    asyncio.run(
        declare_topology(
            settings.amqp_url,
            consumers=CONSUMERS,
            assignees=list(domain.catalogue.assignees),
            retry_delay_ms=settings.retry_delay_ms,
            delivery_limit=settings.delivery_limit,
        )
    )
    print("topology declared")
    return 0


def _cmd_route_explain(args: argparse.Namespace, settings: Settings) -> int:
    from consumers.router.explain import explain_report
    from hub.app import Domain

    domain = Domain.load(settings)
    try:
        text = explain_report(args.explain.read_bytes(), domain.catalogue, domain.rules, domain.calendar)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(text)
    return 0


def _cmd_contracts_export(args: argparse.Namespace, settings: Settings) -> int:
    from hub.contracts_export import export_contracts

    written = export_contracts(args.dir, settings)
    for path in written:
        print(path)
    return 0


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

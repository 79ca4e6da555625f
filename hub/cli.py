"""The `hub` command line: the hub's own commands, and each consumer's from its `cli.register`.

`hub --help` imports no consumer, no settings and no I/O library: a consumer's commands are registered (and its
module imported) only when the command line names one of them; the others appear as placeholders with the same
one-line help (a test compares them with the real ones). Expected failures are one line on stderr with an exit
code from `hub.failures`; `--debug` adds the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import importlib
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hub import dlq_cli, failures
from hub.cli_help import polish
from infra.cli import Run, Subparsers, bind, command
from infra.version import version

T = TypeVar("T")

if TYPE_CHECKING:
    from consumers.privacy.cli import Context as PrivacyContext
    from consumers.privacy.service import PrivacyService
    from hub.bootstrap import Domain
    from hub.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(arguments)
    args = parser.parse_args(arguments)
    run: Run | None = args.run
    if run is None:
        parser.print_help(sys.stderr)
        return failures.USAGE
    import logging

    # The AMQP libraries' log records (aio-pika's "error when creating transport") are no command's output: without
    # this, Python prints them to stderr beside the command's one line. Commands that log configure logging (root
    # handlers, which still receive them); the hub's own warnings keep Python's default.
    for library in ("aiormq", "aio_pika"):
        logging.getLogger(library).addHandler(logging.NullHandler())
    try:
        if _requested(arguments) in DATABASE_READERS:
            from infra.db import require_database

            require_database(get_settings().database_url)
        return run(args)
    except SystemExit:
        raise
    except BrokenPipeError:
        # The reader of our output left (`hub dlq list | grep -q ...`): not a failure of the command, and nothing
        # more to say; stdout goes to /dev/null so the interpreter's final flush does not complain either.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return failures.OK
    except BaseException as exc:  # an expected failure is one line; anything else keeps its traceback
        return failures.report(exc, debug=args.debug)


def get_settings() -> Settings:
    """The hub's settings, read when a command runs (never for `--help`)."""
    from hub.settings import get_settings as settings

    return settings()


# Each consumer's commands: top-level command -> (its cli module, the one-line help `hub --help` shows).
CONSUMER_COMMANDS: dict[str, tuple[str, str]] = {
    "route": ("consumers.router.cli", "routing rules, offline"),
    "stats": ("consumers.stats.cli", "figures: calls, reports, work orders and spikes per period and grouping"),
    "contractors": ("consumers.contractors.cli", "external contractors' broker access"),
    "deliveries": ("consumers.contractors.cli", "work orders sent to webhooks and by e-mail"),
    "workorders": (
        "consumers.contractors.workorders_cli",
        "work orders: list, show their history, set a status for an assignee",
    ),
    "alerts": ("consumers.spikes.cli", "spike alerts for the communication team: list, silence, unsilence, broadcast"),
    "spikes": ("consumers.spikes.cli", "spike detection: load a city's history before going live"),
    "privacy": ("consumers.privacy.cli", "reporters' personal data: erase on request, retention"),
    "open311": ("consumers.open311.cli", "the Open311 GeoReport v2 server's clients (API keys)"),
    "places": ("consumers.domain.places_cli", "district boundaries: places for reports that carry only a point"),
    "users": ("consumers.console.cli", "console users and their roles: add, list, disable, reset a password"),
    "tokens": ("consumers.console.cli", "API tokens for machine clients of /api/stats: add, list, revoke"),
}


# Commands that work on the hub's data: on a machine without the embedded database they say so (exit 6) instead
# of SQLite creating an empty file. Only `hub db upgrade`, `hub run` and `hub demo` make the database.
DATABASE_READERS = frozenset(
    {"stats", "alerts", "deliveries", "workorders", "privacy", "open311", "spikes", "users", "tokens"}
)


def _contexts() -> dict[str, Callable[[], Any]]:
    return {
        "consumers.router.cli": _domain,
        "consumers.privacy.cli": _privacy_context,
    }


def _register(sub: Subparsers, module_name: str) -> None:
    module = importlib.import_module(module_name)
    module.register(sub, _contexts().get(module_name, get_settings))


def _arun(awaitable: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, imported when a command needs it (not for `--help`)."""
    import asyncio

    return asyncio.run(awaitable)


def _requested(argv: Sequence[str]) -> str | None:
    """The command the arguments name (the first word that is not an option), if any."""
    for word in argv:
        if not word.startswith("-"):
            return word
    return None


def _parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The `hub` parser; with `argv`, only the consumer commands it names are registered for real (None: all)."""
    parser = argparse.ArgumentParser(
        prog="hub", description="City contact hub: calls and reports in, work orders, alerts and figures out."
    )
    parser.add_argument("--version", action="version", version=f"hub {version()}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure too")
    parser.set_defaults(run=None)
    sub = parser.add_subparsers(metavar="COMMAND")

    _add_run(sub)
    _add_schema_and_topology(sub)
    _add_demo(sub)
    _add_simulate(sub)
    dlq_cli.register(sub, get_settings)
    _add_serve(sub)
    _add_consumer_commands(sub, argv)
    _add_contracts(sub)
    return polish(parser)


def _add_run(sub: Subparsers) -> None:
    """`hub run [NAMES]`: the consumers, the relay, the supervisor's children."""
    run = sub.add_parser("run", help="run consumers (all, or some by name) until SIGTERM/SIGINT")
    run.add_argument(
        "names",
        nargs="*",
        default=["all"],
        help="all (default), relay, or consumers by name: router, stats, status, deliveries, spikes, notifier",
    )
    run.add_argument("--no-relay", action="store_true", help="do not run the outbox relay in this process")
    run.add_argument(
        "--workers",
        type=int,
        default=None,
        help="child processes the consumers are spread over, under one supervisor (default: the number of cores; "
        "1: all in this process); child i serves /metrics on HUB_METRICS_PORT + i",
    )
    run.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
    command(run, bind(_cmd_run, get_settings))


def _add_schema_and_topology(sub: Subparsers) -> None:
    """`hub db upgrade` and `hub topology declare`."""
    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(metavar="ACTION")
    up = db_sub.add_parser("upgrade", help="apply the Alembic migrations")
    command(up, bind(_cmd_db_upgrade, get_settings))

    topo = sub.add_parser("topology", help="broker topology")
    topo_sub = topo.add_subparsers(metavar="ACTION")
    declare = topo_sub.add_parser("declare", help="declare exchanges and queues")
    command(declare, bind(_cmd_topology_declare, get_settings))


def _add_demo(sub: Subparsers) -> None:
    """`hub demo`: every consumer here, with simulated city traffic."""
    demo = sub.add_parser("demo", help="the main job: all consumers on this machine, with simulated city traffic")
    demo.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2021, 3, 15), help="first simulated day")
    demo.add_argument("--days", type=int, default=5, help="simulated days (default 5)")
    demo.add_argument("--incidents", type=int, default=3, help="planted incidents in the live days (default 3)")
    demo.add_argument(
        "--history-days", type=int, default=15, help="quiet days before, for the spike baseline (default 15)"
    )
    demo.add_argument(
        "--seed", type=int, default=None, help="simulator seed (default: random, so every run is new traffic)"
    )
    demo.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds the consumers may take to catch up (default 600; a simulated year takes longer)",
    )
    command(demo, bind(_cmd_demo, get_settings))


def _add_simulate(sub: Subparsers) -> None:
    """`hub simulate`: the city's traffic, published or written to a file."""
    sim = sub.add_parser("simulate", help="generate the city's traffic and publish it (or write it to a file)")
    span = sim.add_mutually_exclusive_group()
    span.add_argument("--year", type=int, help="a whole year (30,080 calls by default)")
    span.add_argument("--days", type=int, help="a number of days from --start")
    sim.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2021, 3, 15), help="first day with --days")
    sim.add_argument("--seed", type=int, default=2021, help="simulator seed: the same seed, the same traffic")
    sim.add_argument("--calls", type=int, default=None, help="calls in the range (default: the city's rate)")
    sim.add_argument("--incidents", type=int, default=None, help="planted incidents (default: the city's rate)")
    sim.add_argument(
        "--speed", default="max", help="'max' (as fast as the broker takes it), or N for N times real time"
    )
    sim.add_argument(
        "--out", type=Path, help="write the traffic to this JSON-lines file (.gz ok) instead of publishing"
    )
    sim.add_argument("--from-file", type=Path, help="publish a JSON-lines file written before")
    sim.add_argument("--quiet", action="store_true", help="no progress bar (there is none off a terminal)")
    sim.add_argument(
        "--answer",
        action="store_true",
        help="simulated assignees answer the work orders the hub issues (on their queues, the callback of "
        "HUB_PUBLIC_URL, the e-mail links), in event time; then wait until the hub has issued everything",
    )
    sim.add_argument(
        "--answer-idle", type=float, default=20.0, metavar="S", help="with --answer: quiet seconds that mean done"
    )
    command(sim, bind(_cmd_simulate, get_settings))


def _add_serve(sub: Subparsers) -> None:
    """`hub serve`: the HTTP side."""
    serve = sub.add_parser("serve", help="HTTP: health probes, AsyncAPI document (read-only)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on")
    command(serve, bind(_cmd_serve, get_settings))


def _add_consumer_commands(sub: Subparsers, argv: Sequence[str] | None) -> None:
    """Each consumer's own commands; only the one `argv` names is imported (None: all)."""
    # Each consumer adds its own commands; only the one asked for is imported (`hub --help` stays fast).
    requested = None if argv is None else _requested(argv)
    modules = list(dict.fromkeys(module for module, _ in CONSUMER_COMMANDS.values()))
    wanted = modules if argv is None else [m for name, (m, _) in CONSUMER_COMMANDS.items() if name == requested]
    for module_name in wanted:
        _register(sub, module_name)
    for name, (module_name, help_text) in CONSUMER_COMMANDS.items():
        if module_name not in wanted:
            sub.add_parser(name, help=help_text, add_help=False)


def _add_contracts(sub: Subparsers) -> None:
    """`hub contracts export DIR`."""
    contracts = sub.add_parser("contracts", help="the public message contract")
    c_sub = contracts.add_subparsers(metavar="ACTION")
    export = c_sub.add_parser("export", help="write JSON Schemas and the AsyncAPI 3 document")
    export.add_argument("dir", type=Path, help="directory to write the schemas and asyncapi.json into")
    command(export, bind(_cmd_contracts_export, get_settings))


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from faststream import FastStream

    from hub.app import build_app
    from hub.bootstrap import build_hub
    from hub.logging import configure_logging
    from hub.supervisor import default_workers, spread, supervise, watch_parent
    from hub.topology import CONSUMERS

    names = list(dict.fromkeys(args.names))
    unknown = [n for n in names if n not in {*CONSUMERS, "all", "relay"}]
    if unknown:
        raise failures.CommandError(
            f"unknown consumer {', '.join(map(repr, unknown))}: run takes all, relay or {', '.join(CONSUMERS)}",
            failures.USAGE,
        )
    relay_only = names == ["relay"]
    consumers: list[str] = (
        [] if relay_only else list(CONSUMERS) if "all" in names else [n for n in names if n != "relay"]
    )
    workers = default_workers() if args.workers is None else args.workers
    if workers < 1:
        raise SystemExit("--workers must be 1 or more")
    groups = spread(consumers, workers)
    if len(groups) > 1:
        configure_logging(settings.log_level, json_lines=settings.log_json, consumers="supervisor")
        return supervise(
            groups,
            metrics_port=settings.metrics.port,
            no_relay=args.no_relay,
            stop_timeout_s=settings.consuming.graceful_timeout_s + 45,
        )
    tag = None
    if args.worker_index is not None:
        tag = ",".join(consumers)
        watch_parent(settings.consuming.graceful_timeout_s + 30)
    configure_logging(settings.log_level, json_lines=settings.log_json, consumers=tag)
    hub = build_hub(settings, consumers=consumers, with_relay=not args.no_relay, serve_metrics=True)
    app: FastStream = build_app(hub)
    # Long-lived objects (modules, config, compiled rules) never need collecting again, and a consumer
    # allocates many short-lived ones per delivery: full collections every second stalled deliveries for
    # 70-440 ms (benchmarks/README.md). Freeze what exists, and collect the young generation less often.
    gc.freeze()
    gc.set_threshold(10_000, 50, 10)
    _arun(app.run())
    return 0


DEMO_DATABASE = "hub-demo.sqlite3"


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from hub.demo import DemoOptions, run_demo
    from hub.logging import configure_logging

    # The progress bar is the demo's output: only warnings from the consumers.
    configure_logging("WARNING", json_lines=False)
    options = DemoOptions(
        start=args.start,
        days=args.days,
        incidents=args.incidents,
        history_days=args.history_days,
        seed=args.seed,
        timeout_s=args.timeout,
    )
    if "database_url" not in settings.model_fields_set:
        # The embedded default gets a database of the demo's own, fresh for every run: a second run on the first
        # one's database would replay the same simulated weeks behind the spike detector's clock (no alert),
        # and pile its figures on the first run's.
        demo_db = Path(DEMO_DATABASE)
        for leftover in (demo_db, *(demo_db.with_name(demo_db.name + s) for s in ("-wal", "-shm", "-journal"))):
            leftover.unlink(missing_ok=True)
        settings = settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{DEMO_DATABASE}"})
    _arun(run_demo(settings, options))
    return 0


def _cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from consumers.domain.calendar import CityCalendar
    from hub.simulator import describe, publish, read_jsonl, simulate, simulate_year, write_jsonl

    speed = None if args.speed == "max" else float(args.speed)
    if args.from_file:
        events = read_jsonl(args.from_file)
        print(f"publishing {len(events)} events from {args.from_file}")
    else:
        calendar = CityCalendar.load(settings.domain.calendar_file)
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
    from infra.progress import counting, event_time

    tz = CityCalendar.load(settings.domain.calendar_file).tz
    # Messages published, their rate and the event time reached, on a terminal (not with --quiet).
    with counting("published", len(events), unit="msg", quiet=args.quiet, reached="event time") as bar:
        task = bar.tasks[0].id

        def progressed(n: int) -> None:
            bar.update(task, completed=n, reached=event_time(events[n - 1].at, tz) if n else None)

        publishing = publish(events, amqp_url=settings.amqp_url, speed=speed, on_progress=progressed)
        if args.answer:
            n, summary = _arun(
                _publish_and_answer(settings, publishing, events, seed=args.seed, idle_s=args.answer_idle)
            )
        else:
            n, summary = _arun(publishing), ""
    print(f"published {n} events to {_safe_url(settings.amqp_url)}")
    if summary:
        print(summary)
    return 0


async def _publish_and_answer(
    settings: Settings, publishing: Coroutine[Any, Any, int], events: list[Any], *, seed: int, idle_s: float
) -> tuple[int, str]:
    """Publish while the simulated assignees answer; then answer what is due by the end of the simulated days."""
    import httpx

    from consumers.contractors.links_http import link_signer
    from consumers.domain.calendar import CityCalendar
    from consumers.domain.catalogue import Catalogue
    from hub.simulator.contractors import SimulatedContractors

    calendar = CityCalendar.load(settings.domain.calendar_file)
    catalogue = Catalogue.load(settings.domain.categories_file, settings.domain.assignees_file)
    last = events[-1].at.astimezone(calendar.tz).date() if events else dt.date.today()
    horizon = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=calendar.tz)
    async with httpx.AsyncClient(base_url=settings.contractors.public_url, timeout=30) as http:
        contractors = SimulatedContractors(
            catalogue,
            amqp_url=settings.amqp_url,
            tz=calendar.tz,
            http=http,
            webhook_secrets=settings.contractors.webhook_secrets,
            links=link_signer(settings.contractors),
            seed=seed,
        )
        await contractors.start()
        try:
            n = await publishing
            await contractors.settle(idle_s)
            await contractors.finish(horizon)
        finally:
            await contractors.stop()
    return n, contractors.summary()


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

    _arun(_go())
    print(f"schema up to date on {_safe_url(settings.database_url)}")
    return 0


def _cmd_topology_declare(_args: argparse.Namespace, settings: Settings) -> int:
    from hub.bootstrap import Domain
    from hub.topology import CONSUMERS, hub_topology
    from infra.topology import declare_topology

    domain = Domain.load(settings)
    _arun(
        declare_topology(
            settings.amqp_url,
            hub_topology(CONSUMERS, domain.catalogue.assignees),
            retry_delay_ms=settings.consuming.retry_delay_ms,
            delivery_limit=settings.consuming.delivery_limit,
        )
    )
    print("topology declared")
    return 0


def _cmd_contracts_export(args: argparse.Namespace, settings: Settings) -> int:
    from hub.contracts_export import export_contracts

    written = export_contracts(args.dir, settings)
    for path in written:
        print(path)
    return 0


def _domain() -> Domain:
    from hub.bootstrap import Domain

    return Domain.load(get_settings())


class _PrivacyContext:
    """`hub privacy` on the composition root: its settings, its privacy service (and relay, to publish)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @contextlib.asynccontextmanager
    async def service(self, *, publish: bool) -> AsyncIterator[PrivacyService]:
        from hub.bootstrap import build_hub, build_privacy_service
        from infra.db import upgrade_schema
        from infra.errors import describe

        hub = build_hub(self.settings, consumers=(), with_relay=publish)
        try:
            # The erasure records are a table of their own: a database the consumers have not upgraded yet gets it.
            await upgrade_schema(hub.engine)
            if hub.relay is not None:
                # The assignees' notices go out from here at once (this command's relay, drained when it ends); with
                # the broker down they wait in the outbox for a running hub's relay to sweep them up.
                try:
                    await hub.relay.start()
                except Exception as exc:
                    print(f"note: broker unreachable ({describe(exc)}): the notices wait in the outbox")
                    hub.relay = None
            yield build_privacy_service(hub)
        finally:
            await hub.stop_after_broker()


def _privacy_context() -> PrivacyContext:
    return _PrivacyContext(get_settings())


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

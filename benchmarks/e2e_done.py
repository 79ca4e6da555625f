"""When the hub has finished a stream, and what it made of it (for `benchmarks/e2e.py`).

* `ensure_vhost`: the benchmark runs on a vhost of its own (it deletes the hub's queues); a missing one is created
  with the management API, or `rabbitmqctl` where the management plugin does not answer, and the URL's user is
  given every permission on it.
* `wait_routed`: the hub is done with N reports when the router has stored all N, and every delivery the stream
  caused has been applied. With incident folding the number of work orders is not known in advance (a report
  folded into an incident has no order of its own, an incident order and its updates come on top), so the expected
  count of each consumer is read from the database itself: the N reports, plus every outbox row whose routing key
  one of its bindings matches. Inbox and outbox are read in one REPEATABLE READ snapshot: an inbox row and the
  outbox rows its delivery caused commit together, so a snapshot in which every consumer's inbox holds what the
  snapshot's outbox sent it has nothing left in flight (periodic timers aside).
* `log`: a progress line on stderr, for every module of the benchmark.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def topic_matches(binding: str, routing_key: str) -> bool:
    """AMQP topic matching: `*` is one word, `#` zero or more."""

    def match(b: list[str], k: list[str]) -> bool:
        if not b:
            return not k
        if b[0] == "#":
            return any(match(b[1:], k[i:]) for i in range(len(k) + 1))
        return bool(k) and (b[0] in ("*", k[0])) and match(b[1:], k[1:])

    return match(binding.split("."), routing_key.split("."))


async def ensure_vhost(amqp_url: str, management_url: str) -> str:
    """Create the URL's vhost if it is missing; returns what was done (for the log)."""
    from infra.broker_admin import BrokerAdminError, Permissions, connect_admin, credentials_of, vhost_of

    vhost = vhost_of(amqp_url)
    if vhost == "/":
        return "vhost / (not created: it always exists)"
    try:
        admin = await connect_admin("auto", amqp_url=amqp_url, management_url=management_url)
    except BrokerAdminError as exc:
        raise SystemExit(f"cannot create vhost {vhost!r}: {exc}") from exc
    try:
        user, _ = credentials_of(amqp_url)
        await admin.add_vhost(vhost)  # idempotent in both backends
        await admin.set_permissions(vhost, user, Permissions(".*", ".*", ".*"))
    except BrokerAdminError as exc:
        raise SystemExit(f"cannot create vhost {vhost!r}: {exc}") from exc
    finally:
        await admin.aclose()
    return f"vhost {vhost!r} ready ({admin.name}), {user} may configure, write and read"


def bindings_by_consumer(consumers: list[str]) -> dict[str, tuple[str, ...]]:
    from hub.topology import CONSUMER_QUEUES

    return {c: CONSUMER_QUEUES[c].bindings for c in consumers}


def shared_queue_bindings(consumers: list[str], assignees: list[str]) -> dict[str, tuple[str, ...]]:
    """The queues the hub fills for others (`workorders.<assignee>`, `comms.alerts`) and their routing keys."""
    from hub.topology import hub_topology

    return {name: q.bindings for name, q in hub_topology(consumers, assignees).queues.items()}


@dataclass
class Snapshot:
    """One consistent reading of the database."""

    reports: int
    inbox: dict[str, int]
    targets: dict[str, int]
    outbox_by_key: dict[str, int]
    outbox_pending: int

    def done(self, n: int) -> bool:
        return self.reports >= n and all(self.inbox.get(c, 0) >= t for c, t in self.targets.items())

    def behind(self) -> dict[str, str]:
        return {c: f"{self.inbox.get(c, 0)}/{t}" for c, t in self.targets.items() if self.inbox.get(c, 0) < t}


async def snapshot(db: asyncpg.Connection, n: int, bindings: dict[str, tuple[str, ...]]) -> Snapshot:
    async with db.transaction(isolation="repeatable_read", readonly=True):
        reports = int(await db.fetchval("SELECT count(*) FROM reports"))
        inbox = {
            r["consumer"]: int(r["n"]) for r in await db.fetch("SELECT consumer, count(*) AS n FROM inbox GROUP BY 1")
        }
        rows = await db.fetch(
            "SELECT routing_key, count(*) AS n, count(*) FILTER (WHERE published_at IS NULL) AS pending "
            "FROM outbox GROUP BY 1"
        )
    by_key = {r["routing_key"]: int(r["n"]) for r in rows}
    targets = {}
    for consumer, keys in bindings.items():
        target = n if any(topic_matches(b, "report.filed") for b in keys) else 0
        target += sum(count for rk, count in by_key.items() if any(topic_matches(b, rk) for b in keys))
        targets[consumer] = target
    return Snapshot(reports, inbox, targets, by_key, sum(int(r["pending"]) for r in rows))


@dataclass
class Waited:
    complete: bool
    t_done: float
    last: Snapshot
    done_at: dict[str, float] = field(default_factory=dict)  # consumer -> seconds after t0 it caught up


async def wait_routed(
    db: asyncpg.Connection,
    n: int,
    consumers: list[str],
    *,
    t0: float,
    timeout: float,
    alive: Any,
    log: Any,
    tail: Any = lambda: "",
    poll_s: float = 0.05,
) -> Waited:
    """Poll until the router stored all `n` reports and every consumer applied what the stream sent it."""
    bindings = bindings_by_consumer(consumers)
    last_log = t0
    done_at: dict[str, float] = {}
    snap = await snapshot(db, n, bindings)
    while time.perf_counter() - t0 < timeout:
        now = time.perf_counter()
        snap = await snapshot(db, n, bindings)
        for c in consumers:
            caught_up = snap.inbox.get(c, 0) >= snap.targets[c] and (c != "router" or snap.reports >= n)
            if caught_up:
                done_at.setdefault(c, now - t0)
            else:
                done_at.pop(c, None)
        if snap.done(n):
            return Waited(True, now, snap, done_at)
        if not alive():
            raise RuntimeError(f"hub exited during the stream: {tail()}")
        if now - last_log > 5:
            last_log = now
            log(f"hub: {snap.reports}/{n} reports routed after {now - t0:.1f}s; behind: {snap.behind()}")
        await asyncio.sleep(poll_s)
    return Waited(False, time.perf_counter(), snap, done_at)


def expected_on_queues(snap: Snapshot, queues: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Messages each shared queue should hold: the outbox rows its bindings match."""
    return {
        q: sum(count for rk, count in snap.outbox_by_key.items() if any(topic_matches(b, rk) for b in keys))
        for q, keys in queues.items()
    }


async def outcome_counts(db: asyncpg.Connection) -> dict[str, int]:
    """What the stream made: alerts, incident orders, folded reports (for the summary)."""
    queries = {
        "work_orders": "SELECT count(*) FROM work_orders",
        "alerts": "SELECT count(*) FROM alerts",
        "incidents": "SELECT count(*) FROM router_incidents",
        "incident_orders": "SELECT count(*) FROM incident_orders",
        "folded_reports": "SELECT count(DISTINCT report_id) FROM incident_links",
        "folded_live": "SELECT count(DISTINCT report_id) FROM incident_links WHERE how = 'live'",
        "folded_merged": "SELECT count(DISTINCT report_id) FROM incident_links WHERE how = 'merged'",
    }
    out: dict[str, int] = {}
    for name, sql in queries.items():
        try:
            out[name] = int(await db.fetchval(sql))
        except asyncpg.PostgresError:  # a table this schema does not have
            out[name] = -1
    return out

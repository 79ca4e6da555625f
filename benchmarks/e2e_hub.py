"""Phase 2 of benchmarks/e2e.py: the whole hub's throughput and the bound its topology sets."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aio_pika

from benchmarks import e2e_done
from benchmarks.e2e_bench import Bench, declare_hub_topology
from benchmarks.e2e_broker import Probe, delete_queues
from benchmarks.e2e_done import log, topic_matches
from benchmarks.e2e_procs import cpu_by_group, cpu_snapshot, process_label
from benchmarks.e2e_reports import publish_all, report_message, spread_filing_times


def broker_messages_per_report(consumers: list[str], orders_per_report: float) -> dict[str, float]:
    """What the broker and the hub's AMQP clients move per report, from the topology's bindings.

    Deliveries (each consumed and acked): the report to every running consumer bound to `report.filed`, each work
    order to every one bound to `workorder.issued.<assignee>`; publishes (with confirm): the work orders. The bare
    hop moves one delivery and one publish per message, so even a hub doing nothing else cannot exceed
    2 / (deliveries + publishes) of its rate, counting a delivery and a publish as equally costly.
    """
    from hub.topology import CONSUMER_QUEUES
    from infra.topology import workorder_routing_key

    def takers(routing_key: str) -> int:
        return sum(any(topic_matches(b, routing_key) for b in CONSUMER_QUEUES[c].bindings) for c in consumers)

    deliveries = takers("report.filed") + orders_per_report * takers(workorder_routing_key("x"))
    publishes = orders_per_report
    return {
        "deliveries": round(deliveries, 3),
        "publishes": round(publishes, 3),
        "ratio_bound": round(2 / (deliveries + publishes), 3),
    }


def inbox_target(consumer: str, reports: int, orders: int) -> int:
    """How many deliveries `consumer` commits for this stream, from its bindings (0: unknown)."""
    from hub.topology import CONSUMER_QUEUES
    from infra.topology import WORKORDER_ISSUED_PREFIX

    queues = CONSUMER_QUEUES.get(consumer)
    keys = queues.bindings if queues is not None else ()
    target = reports if "report.filed" in keys else 0
    if any(k.startswith(WORKORDER_ISSUED_PREFIX) for k in keys):
        target += orders
    return target


async def phase_hub(bench: Bench, probe: Probe, n: int, stream: str = "spread") -> dict[str, Any]:
    """N reports waiting, then the whole hub until it is done with them. `stream`: "spread", filed at the city's
    real rate over the months before now (`spread_filing_times`); "backlog", all filed in the last
    `--filed-within-minutes` (30): every district of the mix spikes, incidents open and reports fold."""
    if bench.hub is not None:  # a stream before this one: a fresh database, so counts and spike state start at 0
        bench.stop_hub()
        await bench.drop_database()
        await bench.new_database(stream)
    await delete_queues(bench.amqp_url, bench.hub_queue_names())
    await declare_hub_topology(bench)
    if stream == "spread":
        times = spread_filing_times(n, bench.args.seed)
        reports = [bench.factory.report(i, "tp", times[i]) for i in range(n)]
    else:
        reports = [bench.factory.report(i, f"tp-{stream}") for i in range(n)]
    expected = sum(r.orders for r in reports)
    connection = await aio_pika.connect_robust(bench.amqp_url, client_properties={"connection_name": "bench-city"})
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange("city.events", ensure=False)
        t_pub = time.perf_counter()
        await publish_all(exchange, "report.filed", (report_message(r) for r in reports))
        pub_rate = n / (time.perf_counter() - t_pub)
    del reports
    log(f"hub: {n} reports ({expected} work orders expected) waiting on hub.router, published at {pub_rate:,.0f}/s")
    log(f"hub: starting `hub run {' '.join(bench.consumers)}` on {bench.database_url.rpartition('/')[2]}")
    t0 = await bench.start_hub(probe)
    assert bench.hub is not None
    cpu0 = cpu_snapshot()
    hub = bench.hub
    db = await bench.db()
    try:
        # Done when the router stored every report and each consumer applied every delivery the stream caused
        # (benchmarks/e2e_done.py): with incident folding the work orders are not known in advance.
        waited = await e2e_done.wait_routed(
            db, n, bench.consumers, t0=t0, timeout=max(180.0, n / 20), alive=hub.alive, log=log, tail=hub.log_tail
        )
        if not waited.complete:
            log(
                f"hub: not done after {waited.t_done - t0:.0f}s: {waited.last.reports}/{n} reports routed, "
                f"behind {waited.last.behind()}"
            )
        cpu1 = cpu_snapshot()
        wall = waited.t_done - t0
        # The relay marks confirmed rows published in coalesced updates, a moment after the broker took them:
        # the clock stopped when every delivery was applied; the marks get a few seconds to follow.
        for _ in range(100):
            pending = await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            if pending == 0:
                break
            await asyncio.sleep(0.05)
        final = await e2e_done.snapshot(db, n, e2e_done.bindings_by_consumer(bench.consumers))
        made = await e2e_done.outcome_counts(db)
        shared = e2e_done.shared_queue_bindings(bench.consumers, bench.assignees)
        want = e2e_done.expected_on_queues(final, {q: shared[q] for q in bench.workorder_queues})
        on_queues = await probe.total(bench.workorder_queues)
    finally:
        await db.close()
    complete = waited.complete
    orders_db = made["work_orders"]
    checked: dict[str, Any] = {
        "reports_in_db": final.reports,
        "work_orders_in_db": orders_db,
        "work_orders_on_queues": on_queues,
        "messages_expected_on_queues": sum(want.values()),
        "outbox_pending": pending,
        "ok": final.reports == n and on_queues == sum(want.values()) and pending == 0 and final.done(n),
    }
    for c in bench.consumers:
        checked[f"inbox_{c}"] = f"{final.inbox.get(c, 0)} of {final.targets[c]}"
    made["folding_expected_orders_without_folding"] = expected
    result = {
        "stream": stream,
        "reports": n,
        "work_orders": orders_db,
        "broker_messages_per_report": broker_messages_per_report(bench.consumers, expected / n),
        "consumers": bench.consumers,
        "complete": complete,
        "seconds": round(wall, 3),
        **{f"{c}_done_s": round(secs, 3) for c, secs in waited.done_at.items()},
        "made": made,
        "reports_per_s": round(n / wall, 1) if complete else None,
        "work_orders_per_s": round(orders_db / wall, 1) if complete else None,
        "cores_used": cpu_by_group(cpu0, cpu1, bench.hub.pids, max(wall, 1e-6)),
        "hub_cpu_ms_per_report_by_process": {
            process_label(pid): round((cpu1[pid][1] - cpu0.get(pid, ("", 0.0))[1]) * 1000 / n, 2)
            for pid in sorted(bench.hub.pids)
            if pid in cpu1
        },
        "hub_cpu_ms_per_report": round(
            sum(cpu1[p][1] - cpu0.get(p, ("", 0.0))[1] for p in bench.hub.pids if p in cpu1) * 1000 / n, 2
        ),
        "checked": checked,
        "hub_rss_mb": round(bench.hub.memory_kb().get("VmRSS", 0) / 1024, 1),
    }
    log(
        f"hub: {result['reports_per_s']} reports/s ({wall:.2f}s), checked {result['checked']}, "
        f"cores {result['cores_used']}"
    )
    return result

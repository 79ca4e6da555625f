"""The spikes-facing phases of `benchmarks/e2e.py` (issue 14): a burst to `spike.detected`, a simulated year replayed.

* burst: with the hub running and its spikes consumer caught up, reports about one missed collection in one
  district (a district the other phases never file in) are published a moment apart; the latency is the arrival
  of the incident's `spike.detected` on `comms.alerts` minus the publish time of the burst's fifth report (the
  category's `min_count` is 4: the fifth is where a calm district's window is decided). Repeated `rounds`
  times, each in another district.
* year: a fresh database and a fresh `hub run`; `hub.simulator.simulate_year` (30,080 calls and their reports,
  a dozen planted incidents) published as fast as the broker confirms, the clock running from the first
  publish until every consumer is idle (its queue empty and its inbox no longer growing). `--year-days`
  replays only the first days of the year (the quick run).

Both share the helpers of `benchmarks.e2e` (passed in as the `bench` context and the `probe`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
import uuid
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

# A burst of missed collections (min_count 4, fast window 30 min) in districts the report mix never uses.
BURST_CATEGORY = "waste.missed_collection"
BURST_FRACTION = "residual"
BURST_DISTRICTS = [("Gorsem", "3803"), ("Kerkom", "3800"), ("Ordingen", "3800"), ("Wilderen", "3800")]
BURST_REPORTS = 6
BURST_GAP_S = 0.5
DECIDING_REPORT = 5  # the "fifth report of a burst"
TARGET_BURST_S = 2.0
TARGET_YEAR_S = 60.0


def burst_report(bench: Any, district: str, postcode: str, index: int) -> Any:
    """A report of the burst, filed now, as `benchmarks.e2e_reports.BenchReport` (JSON body, its own ids)."""
    data = bench.factory.data(index, f"burst-{district}", BURST_CATEGORY)
    data["waste_fraction"] = BURST_FRACTION
    data["location"]["district"] = district
    data["location"]["postcode"] = postcode
    data["filed_at"] = dt.datetime.now(dt.UTC).isoformat()
    cls = type(bench.factory.report(0, "shape"))
    return cls(report_id=data["report_id"], event_id=str(uuid.uuid4()), orders=1, body=json.dumps(data).encode())


async def wait_queues_empty(probe: Any, queues: list[str], timeout: float) -> float:
    """Seconds until every queue has no ready message (polled every 0.2 s), or the timeout."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if await probe.total(queues) == 0:
            return time.perf_counter() - t0
        await asyncio.sleep(0.2)
    return time.perf_counter() - t0


async def phase_burst(bench: Any, probe: Any, rounds: int, *, report_message: Any, declare: Any) -> dict[str, Any]:
    """Burst -> `spike.detected` on `comms.alerts`, `rounds` times (one district each)."""
    from infra.topology import COMMS_ALERTS_QUEUE

    if bench.hub is None or not bench.hub.alive():
        await declare(bench)
        await bench.start_hub(probe)
    waited = await wait_queues_empty(probe, ["hub.spikes"], 300)
    results: list[dict[str, Any]] = []
    arrivals: dict[str, float] = {}  # district -> arrival of its first spike.detected
    arrived = asyncio.Event()

    async def on_alert(message: AbstractIncomingMessage) -> None:
        arrival = time.perf_counter()
        with contextlib.suppress(Exception):
            body = json.loads(message.body)
            if message.routing_key == "spike.detected" and body.get("category") == BURST_CATEGORY:
                arrivals.setdefault(str(body.get("district")), arrival)
                arrived.set()

    connection = await aio_pika.connect_robust(bench.amqp_url, client_properties={"connection_name": "bench-burst"})
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        alerts = await channel.get_queue(COMMS_ALERTS_QUEUE, ensure=True)
        await alerts.purge()
        await alerts.consume(on_alert, no_ack=True)
        exchange = await channel.get_exchange("city.events", ensure=False)
        for district, postcode in BURST_DISTRICTS[:rounds]:
            sent: list[float] = []
            for i in range(BURST_REPORTS):
                report = burst_report(bench, district, postcode, i)
                sent.append(time.perf_counter())
                await exchange.publish(report_message(report), routing_key="report.filed", mandatory=True)
                if district in arrivals:
                    break
                await asyncio.sleep(BURST_GAP_S)
            deadline = time.perf_counter() + 30
            while district not in arrivals and time.perf_counter() < deadline:
                arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), max(0.0, deadline - time.perf_counter()))
            arrival = arrivals.get(district)
            deciding = sum(1 for t in sent if arrival is not None and t <= arrival)
            result = {
                "district": district,
                "reports_published": len(sent),
                "detected": arrival is not None,
                "reports_before_alert": deciding if arrival is not None else None,
                "from_fifth_report_s": (
                    round(arrival - sent[DECIDING_REPORT - 1], 3)
                    if arrival is not None and len(sent) >= DECIDING_REPORT
                    else None
                ),
                "from_last_report_before_alert_s": (
                    round(arrival - max(t for t in sent if t <= arrival), 3) if arrival is not None else None
                ),
            }
            bench.log(f"burst: {result}")
            results.append(result)
    measured = [r["from_fifth_report_s"] for r in results if r["from_fifth_report_s"] is not None]
    deciding_s = [r["from_last_report_before_alert_s"] for r in results if r["detected"]]
    return {
        "spikes_backlog_wait_s": round(waited, 1),
        "rounds": results,
        "max_from_fifth_report_s": max(measured) if measured else None,
        "max_from_deciding_report_s": max(deciding_s) if deciding_s else None,
        "all_detected": all(r["detected"] for r in results),
    }


async def phase_year(bench: Any, probe: Any, days: int, *, timeout: float) -> dict[str, Any]:
    """A simulated year (or its first `days`) through a fresh hub on a fresh database, until every consumer is idle."""
    from hub.simulator import publish, simulate, simulate_year

    bench.stop_hub()
    t_sim = time.perf_counter()
    if days >= 365:
        scenario = simulate_year(2021)
    else:
        scenario = simulate(start=dt.date(2021, 1, 1), days=days, seed=2021, calls_total=round(30_080 * days / 365))
    counts = scenario.counts()
    bench.log(f"year: {len(scenario.events)} events simulated in {time.perf_counter() - t_sim:.1f}s ({counts})")
    main_db = bench.database_url
    await bench.new_database("year")
    try:
        await bench.reset_queues()
        await bench.start_hub(probe)
        assert bench.hub is not None
        cpu0 = bench.cpu_snapshot()
        t0 = time.perf_counter()
        published = await publish(scenario.events, amqp_url=bench.amqp_url, concurrency=200)
        t_pub = time.perf_counter() - t0
        bench.log(f"year: {published} published in {t_pub:.1f}s; waiting until every consumer is idle")
        db = await bench.db()
        try:
            idle_at, complete, inbox = await wait_idle(bench, probe, db, t0, timeout)
            calls = await db.fetchval("SELECT count(*) FROM stat_calls")
            reports = await db.fetchval("SELECT count(*) FROM reports")
        finally:
            await db.close()
        cpu1 = bench.cpu_snapshot()
        hub_cpu = sum(cpu1[p][1] - cpu0.get(p, ("", 0.0))[1] for p in bench.hub.pids if p in cpu1)
        result = {
            "days": days,
            "events": len(scenario.events),
            "calls": len(scenario.calls()),
            "reports": len(scenario.reports()),
            "published_s": round(t_pub, 1),
            "complete": complete,
            "idle_after_s": round(idle_at - t0, 1),
            "inbox_rows": inbox,
            "calls_in_stats": calls,
            "reports_routed": reports,
            "hub_cpu_s": round(hub_cpu, 1),
            "hub_rss_mb": round(bench.hub.memory_kb().get("VmRSS", 0) / 1024, 1),
        }
        bench.log(f"year: {result}")
        return result
    finally:
        bench.stop_hub()
        await bench.drop_database()
        bench.database_url = main_db


async def wait_idle(bench: Any, probe: Any, db: Any, t0: float, timeout: float) -> tuple[float, bool, int]:
    """(moment the last consumer went idle, whether it did within `timeout`, inbox rows): every input queue of the
    hub empty and the inbox not grown for 3 s (work in flight, the batch that took the last deliveries, commits)."""
    queues = bench.consumer_queues
    last_count, changed, stable = -1, time.perf_counter(), 0
    last_log = t0
    while time.perf_counter() - t0 < timeout:
        await asyncio.sleep(0.25)
        now = time.perf_counter()
        count = int(await db.fetchval("SELECT count(*) FROM inbox"))
        ready = await probe.total(queues)
        if count != last_count:
            last_count, changed, stable = count, now, 0
        elif ready == 0:
            stable += 1
        else:
            stable = 0
        if stable >= 12:
            return changed, True, count
        if now - last_log > 10:
            last_log = now
            bench.log(f"year: {ready} deliveries waiting on the hub's queues, {count} inbox rows after {now - t0:.0f}s")
        if not bench.hub.alive():
            raise RuntimeError(f"hub exited: {bench.hub.log_tail()}")
    return time.perf_counter(), False, last_count

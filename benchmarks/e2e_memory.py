"""Phase 4 of benchmarks/e2e.py: the RSS of a fresh hub while it routes M reports."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Any

import aio_pika

from benchmarks.e2e_bench import Bench, declare_hub_topology
from benchmarks.e2e_broker import Probe, WorkOrderSink, purge_queues
from benchmarks.e2e_done import log
from benchmarks.e2e_procs import broker_pid, read_status_kb
from benchmarks.e2e_reports import report_message, spread_filing_times

# "Flat": over the second half of the stream RSS grows by no more than this. Caches fill early (SQLAlchemy's
# compiled statements, asyncpg's prepared statements, the allocator's arenas); a leak grows with the count.
FLAT_TOLERANCE_FRACTION = 0.02
FLAT_TOLERANCE_MB = 2.0


async def phase_memory(bench: Bench, probe: Probe, m: int) -> dict[str, Any]:
    """A fresh hub process routes M reports streamed to it (backlog bounded), work orders drained."""
    bench.stop_hub()
    await purge_queues(bench.amqp_url, bench.workorder_queues + bench.consumer_queues)
    await declare_hub_topology(bench)
    await bench.start_hub(probe)
    assert bench.hub is not None
    await asyncio.sleep(1.0)
    at_start = bench.hub.memory_kb()
    beam = broker_pid()
    received = 0
    published_orders = 0
    done = asyncio.Event()
    publishing_done = False
    window = 4000  # work orders published but not yet drained: bounds the broker's backlog
    times = spread_filing_times(m, bench.args.seed + 1)  # the spread stream: no folding, every work order comes

    def on_order(_report_id: str, _arrival: float) -> None:
        nonlocal received
        received += 1
        if publishing_done and received >= published_orders:
            done.set()

    samples: list[tuple[int, float, int, int, int]] = []  # (orders received, t, rss kB, hwm kB, broker rss kB)

    async def sampler() -> None:
        assert bench.hub is not None
        while True:
            mem = bench.hub.memory_kb()
            broker = read_status_kb(beam).get("VmRSS", 0) if beam else 0
            samples.append((received, time.perf_counter(), mem.get("VmRSS", 0), mem.get("VmHWM", 0), broker))
            await asyncio.sleep(0.2)

    log(f"memory: {m} reports through a fresh hub (pids {sorted(bench.hub.pids)}), RSS at start {at_start}")
    t0 = time.perf_counter()
    async with WorkOrderSink(bench.amqp_url, bench.workorder_queues, on_order):
        sampling = asyncio.create_task(sampler())
        connection = await aio_pika.connect_robust(bench.amqp_url, client_properties={"connection_name": "bench-city"})
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await channel.get_exchange("city.events", ensure=False)
            indices = iter(range(m))
            last_log = time.perf_counter()

            async def publisher() -> None:
                nonlocal published_orders, last_log
                for i in indices:
                    while published_orders - received > window:  # noqa: ASYNC110 - a polled gate is enough here
                        await asyncio.sleep(0.005)
                    report = bench.factory.report(i, "mem", times[i])
                    published_orders += report.orders
                    await exchange.publish(
                        report_message(report), routing_key="report.filed", mandatory=True, timeout=60
                    )
                    if time.perf_counter() - last_log > 10:
                        last_log = time.perf_counter()
                        mem = bench.hub.memory_kb() if bench.hub else {}
                        log(f"memory: {i}/{m} published, {received} work orders drained, hub RSS {mem}")

            await asyncio.gather(*(publisher() for _ in range(64)))
            publishing_done = True
            if received >= published_orders:
                done.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 120)
        t1 = time.perf_counter()
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
    final = bench.hub.memory_kb()
    total = published_orders
    samples.append(
        (
            received,
            t1,
            final.get("VmRSS", 0),
            final.get("VmHWM", 0),
            read_status_kb(beam).get("VmRSS", 0) if beam else 0,
        )
    )

    def at(fraction: float) -> dict[str, float]:
        for got, _t, rss, hwm, broker in samples:
            if got >= fraction * total:
                return {
                    "rss_mb": round(rss / 1024, 1),
                    "hwm_mb": round(hwm / 1024, 1),
                    "broker_rss_mb": round(broker / 1024, 1),
                }
        return {}

    points = {f"{int(f * 100)}%": at(f) for f in (0.1, 0.5, 1.0)}
    rss10 = points["10%"].get("rss_mb", math.nan)
    rss100 = points["100%"].get("rss_mb", math.nan)
    growth = rss100 - rss10
    rss50 = points["50%"].get("rss_mb", math.nan)
    second_half = rss100 - rss50
    result = {
        "reports": m,
        "work_orders": total,
        "work_orders_received": received,
        "complete": received >= total,
        "seconds": round(t1 - t0, 1),
        "reports_per_s_streaming": round(m / (t1 - t0), 1),
        "rss_at_start_mb": round(at_start.get("VmRSS", 0) / 1024, 1),
        "points": points,
        "peak_rss_mb": round(max(s[3] for s in samples) / 1024, 1),
        "growth_10_to_100_mb": round(growth, 1),
        "growth_50_to_100_mb": round(second_half, 1),
        "flat": second_half <= max(FLAT_TOLERANCE_MB, FLAT_TOLERANCE_FRACTION * rss50),
    }
    log(f"memory: {result}")
    return result

"""Phase 3 of benchmarks/e2e.py: publish time to work-order arrival at fixed offered loads."""

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
from benchmarks.e2e_procs import cpu_by_group, cpu_snapshot
from benchmarks.e2e_reports import report_message, spread_filing_times


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def per_second_max(timeline: list[tuple[float, float]], start: float) -> list[float]:
    """The slowest work order of the reports published in each second of the run."""
    out: dict[int, float] = {}
    for published, ms in timeline:
        second = int(published - start)
        out[second] = max(out.get(second, 0.0), ms)
    return [round(out.get(i, 0.0), 1) for i in range(max(out) + 1)] if out else []


async def phase_latency(
    bench: Bench, probe: Probe, rate: float, duration: float, warmup: float = 2.0
) -> dict[str, Any]:
    """Reports at a steady `rate`; the first `warmup` seconds of them warm the hub up and are not counted."""
    await purge_queues(bench.amqp_url, bench.workorder_queues)
    if bench.hub is None or not bench.hub.alive():
        await declare_hub_topology(bench)
        await bench.start_hub(probe)
    total = int(rate * duration)
    # Filed at the city's real rate, like the spread stream (reports filed all at once would make every district
    # spike and fold, and the work orders counted on would never come).
    times = spread_filing_times(int(rate * warmup) + total, bench.args.seed + int(rate))
    warm = int(rate * warmup)
    backlog = {q: (await probe.queue(q))[0] for q in bench.consumer_queues}
    log(f"latency: backlog before the run {backlog}")
    sent: dict[str, float] = {}
    latencies: list[float] = []
    timeline: list[tuple[float, float]] = []  # (publish time, latency ms): when the slow ones happen
    expected = 0
    all_in = asyncio.Event()

    def on_order(report_id: str, arrival: float) -> None:
        published = sent.get(report_id)
        if published is not None:
            latencies.append((arrival - published) * 1000)
            timeline.append((published, latencies[-1]))
            if len(latencies) >= expected and publishing_done:
                all_in.set()

    publishing_done = False
    log(f"latency: {rate:g} reports/s for {warmup:g}s of warm-up, then {duration:g}s measured ({total} reports)")
    async with WorkOrderSink(bench.amqp_url, bench.workorder_queues, on_order):
        connection = await aio_pika.connect_robust(bench.amqp_url, client_properties={"connection_name": "bench-city"})
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await channel.get_exchange("city.events", ensure=False)
            in_flight: set[asyncio.Task[Any]] = set()
            late = 0
            cpu0 = cpu_snapshot()
            begin = time.perf_counter() + 0.05
            start = begin + warm / rate  # the measured part
            for i in range(-warm, total):
                target = start + i / rate
                delay = target - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -0.005 and i >= 0:
                    late += 1
                if i == 0:
                    cpu0 = cpu_snapshot()
                report = bench.factory.report(i, f"lat{rate:g}" if i >= 0 else f"warm{rate:g}", times[i + warm])
                message = report_message(report)
                if i >= 0:
                    expected += report.orders
                    sent[report.report_id] = time.perf_counter()
                task = asyncio.create_task(exchange.publish(message, routing_key="report.filed", mandatory=True))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            offered_s = time.perf_counter() - start
            cores = cpu_by_group(cpu0, cpu_snapshot(), bench.hub.pids if bench.hub else set(), offered_s)
            if in_flight:
                await asyncio.gather(*in_flight)
            publishing_done = True
            if len(latencies) >= expected:
                all_in.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_in.wait(), 60)
    values = sorted(latencies)
    result = {
        "offered_per_s": rate,
        "warmup_s": warmup,
        "achieved_offered_per_s": round(total / offered_s, 1),
        "late_publishes": late,
        "reports": total,
        "work_orders_expected": expected,
        "work_orders_received": len(values),
        "p50_ms": round(percentile(values, 50), 1),
        "p95_ms": round(percentile(values, 95), 1),
        "p99_ms": round(percentile(values, 99), 1),
        "max_ms": round(values[-1], 1) if values else None,
        "cores_used": cores,
        "max_ms_per_second": per_second_max(timeline, start),
    }
    log(f"latency: {result}")
    return result

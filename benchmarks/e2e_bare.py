"""Phase 1 of benchmarks/e2e.py, the ceiling: a bare aio-pika hop on durable quorum queues."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractIncomingMessage,
)

from benchmarks.e2e_bench import Bench
from benchmarks.e2e_broker import delete_queues
from benchmarks.e2e_done import log
from benchmarks.e2e_procs import cpu_by_group, cpu_snapshot
from benchmarks.e2e_reports import publish_all, report_message


async def bare_hop(bench: Bench, n: int, *, pipelined: bool) -> dict[str, Any]:
    """consume (prefetch 256) -> json.loads -> publish with confirm to B -> ack, on durable quorum queues."""
    url = bench.amqp_url
    qa_name, qb_name = f"bench.hop.{bench.run}.in", f"bench.hop.{bench.run}.out"
    args = {"x-queue-type": "quorum"}
    reports = [bench.factory.report(i, "bare") for i in range(n)]
    producer = await aio_pika.connect_robust(url, client_properties={"connection_name": "bench-producer"})
    consumer = await aio_pika.connect_robust(url, client_properties={"connection_name": "bench-hop"})
    try:
        pch = await producer.channel(publisher_confirms=True, on_return_raises=True)
        await pch.declare_queue(qa_name, durable=True, arguments=args)
        await pch.declare_queue(qb_name, durable=True, arguments=args)
        cch = await consumer.channel(publisher_confirms=True, on_return_raises=True)
        await cch.set_qos(prefetch_count=256)
        out_exchange = cch.default_exchange
        done = 0
        finished: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        async def hop(message: AbstractIncomingMessage) -> None:
            nonlocal done
            data = json.loads(message.body)
            await out_exchange.publish(
                aio_pika.Message(
                    json.dumps(data).encode(),
                    message_id=message.message_id,
                    headers=message.headers,
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=qb_name,
                mandatory=True,
            )
            await message.ack()
            done += 1
            if done == n and not finished.done():
                finished.set_result(time.perf_counter())

        cqa = await cch.get_queue(qa_name, ensure=True)
        messages = (report_message(r) for r in reports)
        if pipelined:
            tag = await cqa.consume(hop)
            cpu0 = cpu_snapshot()
            t0 = time.perf_counter()
            await publish_all(pch.default_exchange, qa_name, messages)
        else:
            t_pub = time.perf_counter()
            await publish_all(pch.default_exchange, qa_name, messages)
            log(f"bare: {n} messages waiting in {qa_name} (published at {n / (time.perf_counter() - t_pub):,.0f}/s)")
            cpu0 = cpu_snapshot()
            t0 = time.perf_counter()
            tag = await cqa.consume(hop)
        t1 = await asyncio.wait_for(finished, timeout=max(120.0, n / 200))
        cores = cpu_by_group(cpu0, cpu_snapshot(), set(), t1 - t0)
        await cqa.cancel(tag)
        return {"messages": n, "seconds": round(t1 - t0, 3), "msgs_per_s": round(n / (t1 - t0), 1), "cores_used": cores}
    finally:
        await consumer.close()
        await producer.close()
        await delete_queues(url, [qa_name, qb_name])


async def phase_bare(bench: Bench, n: int) -> dict[str, Any]:
    log(f"bare: hop of {n} messages, pre-published (the same method as the hub phase)")
    waiting = await bare_hop(bench, n, pipelined=False)
    log(f"bare: {waiting['msgs_per_s']:,.0f} msg/s; now pipelined (producer running during the hop)")
    pipelined = await bare_hop(bench, n, pipelined=True)
    log(f"bare: pipelined {pipelined['msgs_per_s']:,.0f} msg/s")
    return {"prepublished": waiting, "pipelined": pipelined}

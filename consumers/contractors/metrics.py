"""The delivery endpoints' health for `hub serve`'s `/metrics`: read from the table the replicas share.

`hub_delivery_endpoint_circuit_open{assignee}` is 1 while an endpoint's circuit is open or half-open (its
consecutive failures reached the threshold: no calls, or one probe at a time), `hub_delivery_endpoint_disabled`
1 once a `410 Gone` disabled it (until `hub deliveries enable`). Endpoints that never failed have no row: 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.contractors.rules import Circuit, circuit_state
from consumers.contractors.tables import DeliveryEndpoint


async def endpoint_metrics(
    sessions: async_sessionmaker[AsyncSession], *, failure_threshold: int, now: dt.datetime | None = None
) -> Sequence[Metric]:
    moment = now or dt.datetime.now(dt.UTC)
    circuit = GaugeMetricFamily(
        "hub_delivery_endpoint_circuit_open",
        "1 while a delivery endpoint's circuit breaker is open or half-open (no calls, or one probe).",
        labels=["assignee"],
    )
    disabled = GaugeMetricFamily(
        "hub_delivery_endpoint_disabled",
        "1 when a delivery endpoint was disabled by 410 Gone (resume it with `hub deliveries enable`).",
        labels=["assignee"],
    )
    async with sessions() as session:
        endpoints = (await session.execute(select(DeliveryEndpoint))).scalars().all()
    for endpoint in endpoints:
        open_until = endpoint.open_until
        if open_until is not None and open_until.tzinfo is None:
            open_until = open_until.replace(tzinfo=dt.UTC)
        state = circuit_state(endpoint.consecutive_failures, open_until, moment, failure_threshold)
        circuit.add_metric([endpoint.assignee], float(state != Circuit.CLOSED))
        disabled.add_metric([endpoint.assignee], float(endpoint.disabled_at is not None))
    return [circuit, disabled]

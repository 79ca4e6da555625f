"""Every routing key of the public contract has a queue bound to it: derived from the contracts and the topology.

A key nobody binds makes every outbox row under it fail with NO_ROUTE (mandatory flag) and retry for ever. Each
contract's key (expanded per assignee where the topology routes per assignee) is published with the mandatory flag
to the topology `declare_topology` makes for all consumers: the broker must route every one of them, unless the
topology declares that key intentionally unbound.
"""

from __future__ import annotations

import aio_pika
import pytest

from contracts import ALL_CONTRACTS
from hub.bootstrap import Domain
from hub.settings import Settings
from hub.topology import CONSUMERS, hub_topology
from infra.topology import INTENTIONALLY_UNBOUND, PER_ASSIGNEE_PREFIXES, declare_topology
from tests.contractors_support import scratch_vhost, with_vhost

pytestmark = pytest.mark.integration


def contract_keys(assignees: list[str]) -> dict[str, str]:
    """Routing key -> contract name, for every key the public contract names."""
    keys: dict[str, str] = {}
    for contract in ALL_CONTRACTS:
        if contract.routing_key in PER_ASSIGNEE_PREFIXES:
            keys.update({f"{contract.routing_key}.{a}": contract.__name__ for a in assignees})
        else:
            keys[contract.routing_key] = contract.__name__
    return keys


async def test_every_key_of_the_contract_reaches_a_queue(amqp_url: str) -> None:
    assignees = list(Domain.load(Settings()).catalogue.assignees)
    keys = contract_keys(assignees)
    assert "workorder.status.applied" in keys
    assert len(keys) > len(ALL_CONTRACTS)
    async with scratch_vhost(amqp_url, "routes") as vhost:
        url = with_vhost(amqp_url, vhost)
        await declare_topology(url, hub_topology(CONSUMERS, assignees), retry_delay_ms=1000, delivery_limit=5)
        connection = await aio_pika.connect(url)
        unroutable: list[str] = []
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await channel.get_exchange("city.events", ensure=False)
            for key, contract in sorted(keys.items()):
                try:
                    await exchange.publish(aio_pika.Message(b"{}", message_id=key), routing_key=key, mandatory=True)
                except aio_pika.exceptions.DeliveryError:
                    if key not in INTENTIONALLY_UNBOUND:
                        unroutable.append(f"{key} ({contract})")
        assert unroutable == [], f"no queue bound to: {', '.join(unroutable)}"

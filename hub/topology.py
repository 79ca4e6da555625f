"""The hub's whole broker topology, collected from each consumer's `queues.py`."""

from __future__ import annotations

from collections.abc import Iterable

from consumers.contractors import queues as contractors
from consumers.notifier import queues as notifier
from consumers.privacy import queues as privacy
from consumers.router import queues as router
from consumers.spikes import queues as spikes
from consumers.stats import queues as stats
from infra.topology import ConsumerQueues, Topology

CONSUMER_QUEUES: dict[str, ConsumerQueues] = {
    q.name: q
    for q in (router.QUEUES, stats.QUEUES, contractors.STATUS, contractors.DELIVERIES, spikes.QUEUES, notifier.QUEUES)
}
CONSUMERS: tuple[str, ...] = tuple(CONSUMER_QUEUES)


def hub_topology(consumers: Iterable[str], assignees: Iterable[str]) -> Topology:
    """The input queues of `consumers`, and the queues the hub fills for others (always, whichever consumers run)."""
    assignees = list(assignees)
    topology = Topology()
    for name in consumers:
        topology.consumer(CONSUMER_QUEUES[name])
    router.declare_outputs(topology, assignees)
    contractors.declare_outputs(topology, assignees)
    privacy.declare_outputs(topology, assignees)
    spikes.declare_outputs(topology)
    return topology

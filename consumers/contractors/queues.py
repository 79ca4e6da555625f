"""Contractors' queues: status updates in (`hub.status`), work orders to send (`hub.deliveries`), escalations out."""

from __future__ import annotations

from collections.abc import Iterable

from infra.topology import ConsumerQueues, Topology, workorder_escalated_routing_key, workorder_queue_name

STATUS = ConsumerQueues("status", ("workorder.status",))
DELIVERIES = ConsumerQueues("deliveries", ("workorder.issued.*", "workorder.updated.*"))


def declare_outputs(topology: Topology, assignees: Iterable[str]) -> None:
    """Escalations reach a department on its own work-order queue (declared by the router)."""
    for assignee in assignees:
        topology.bind(workorder_queue_name(assignee), workorder_escalated_routing_key(assignee))

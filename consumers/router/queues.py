"""The router's queues: its input `hub.router` (reports, and the incidents its reports fold into), and one
work-order queue per assignee (the hub's public output: work orders and incident orders' updates)."""

from __future__ import annotations

from collections.abc import Iterable

from infra.topology import (
    ConsumerQueues,
    Topology,
    workorder_queue,
    workorder_routing_key,
    workorder_updated_routing_key,
)

QUEUES = ConsumerQueues("router", ("report.filed", "spike.detected", "spike.resolved"))


def declare_outputs(topology: Topology, assignees: Iterable[str]) -> None:
    """`workorders.<assignee>` for every assignee, whichever consumers run: its readers are outside the hub."""
    for assignee in assignees:
        topology.queue(
            workorder_queue(assignee), workorder_routing_key(assignee), workorder_updated_routing_key(assignee)
        )

"""The router's queues: its input `hub.router`, and one work-order queue per assignee (the hub's public output)."""

from __future__ import annotations

from collections.abc import Iterable

from infra.topology import ConsumerQueues, Topology, workorder_queue, workorder_routing_key

QUEUES = ConsumerQueues("router", ("report.filed",))


def declare_outputs(topology: Topology, assignees: Iterable[str]) -> None:
    """`workorders.<assignee>` for every assignee, whichever consumers run: its readers are outside the hub."""
    for assignee in assignees:
        topology.queue(workorder_queue(assignee), workorder_routing_key(assignee))

"""Privacy has no input queue: its notices reach each assignee on its work-order queue (declared by the router)."""

from __future__ import annotations

from collections.abc import Iterable

from infra.topology import Topology, workorder_queue_name, workorder_reporter_erased_routing_key


def declare_outputs(topology: Topology, assignees: Iterable[str]) -> None:
    for assignee in assignees:
        topology.bind(workorder_queue_name(assignee), workorder_reporter_erased_routing_key(assignee))

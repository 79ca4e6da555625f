"""The spikes consumer's queues: its input `hub.spikes`, and the communication team's `comms.alerts`."""

from __future__ import annotations

from infra.topology import SPIKE_ROUTING_PATTERN, ConsumerQueues, Topology, comms_alerts_queue

# Calls and reports counted, work orders for the assignees an alert names.
QUEUES = ConsumerQueues("spikes", ("call.logged", "report.filed", "workorder.issued.*"))


def declare_outputs(topology: Topology) -> None:
    """`comms.alerts`, whichever consumers run: the communication team's tools read it."""
    topology.queue(comms_alerts_queue(), SPIKE_ROUTING_PATTERN)

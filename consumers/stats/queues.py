"""The statistics consumer's input `hub.stats`: every fact it counts arrives there."""

from __future__ import annotations

from infra.topology import ConsumerQueues

QUEUES = ConsumerQueues(
    "stats",
    (
        "call.logged",
        "report.filed",
        "workorder.issued.*",
        # Incident orders' updates: which reports an incident order stands for.
        "workorder.updated.*",
        # Only validated changes: `workorder.status` is what anybody with a broker user may send.
        "workorder.status.applied",
        "spike.detected",
        "spike.resolved",
        "spike.broadcast",
    ),
    # The statistics once counted the raw, unvalidated status stream (a contractor could forge figures).
    retired=("workorder.status",),
)

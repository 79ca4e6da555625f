"""The notifier's input `hub.notifier`: the alerts to e-mail and post to the chat."""

from __future__ import annotations

from infra.topology import ConsumerQueues

QUEUES = ConsumerQueues("notifier", ("spike.detected", "spike.resolved"))

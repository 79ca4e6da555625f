"""The communication team's deliveries: every `spike.detected` / `spike.resolved` by e-mail and to a chat webhook.

A consumer of its own (queue `hub.notifier`), so a mail server or chat service that is down never holds up
detection; the team's own queue `comms.alerts` gets the same messages straight from the broker.
"""

"""Work orders to external contractors and their status back.

`rules` (pure) holds the work-order state machine, who may report for whom, escalation targets, the delivery
retry schedule and the circuit breaker; `status` applies status changes, re-routes rejections to triage and
escalates late acknowledgements; `scheduling` writes the delivery rows (work orders, incident-order updates,
reminders) and their payloads; `deliveries` sends them to webhooks (Standard Webhooks 1.0) and by e-mail; `provisioning` gives each contractor its own broker user; `http` serves the signed status callback;
`cli` holds `hub contractors ...` and `hub deliveries ...`.
"""

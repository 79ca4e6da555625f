"""The statistics: figures about calls, reports, work orders and spikes, kept current by a consumer.

`aggregates` decides which counters a message increments (pure), `handler` stores facts and counters exactly
once per message, `queries` answers period and grouping questions for the CLI and the HTTP API (`workorders`:
the work orders' SLA figures and where the reports' work stands), `rebuild` recomputes the counters from the
stored facts, and `cli` is `hub stats`.
"""

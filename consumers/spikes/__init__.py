"""Incident spike detection: a pure core (no I/O, no database, no broker) and the consumer around it.

Data flows in one direction, on event time only (the time stamped in the messages, never the clock):

1. `detector.increments_for_call` / `increments_for_report` turn a `CallLogged` or `ReportFiled` into
   per-key, per-bucket counter increments; the consumer upserts them atomically (`detector.CountTable`
   is the in-memory reference of the same semantics). Calls need the catalogue's subject -> category
   mapping (`category_of`).
2. `baseline.fit_baseline` learns, from history buckets, the expected count of every key per bucket
   with weekday x hour-of-day seasonality; the fitted `BaselineModel` serialises to a dict.
   `baseline.Blend` weighs it against the conservative prior of `spikes.yaml` (`PriorBaseline`) by the
   days of history it was fitted from, so a fresh install judges from its first message.
3. `detector.SpikeDetector.evaluate` judges the buckets of a sliding window against that expectation with
   an exact Poisson tail above a per-category floor, and returns a `Decision`.
4. `lifecycle.AlertBook.step` turns decisions into `Fire` / `Update` / `Resolve` / `Suppress` actions,
   Alertmanager-style (grouping, inhibition, silences, throttled updates, resolve once; `activity` says
   when an incident is alive and when it is quiet); its state (`groups`, one per live incident) serialises to a dict.
5. `drafts` renders the Dutch and English broadcast drafts and builds the `SpikeDetected` /
   `SpikeResolved` contracts.
6. `engine.SpikeEngine` strings 1-4 together on event time (one step per message, timer steps between
   them and `advance` without them, daily refits, `backfill` of history), on any `CountStore`: the
   consumer's database table or the benchmark's in-memory table.

Settings per category come from `hub/config/spikes.yaml` through `config.load_spike_config`.

The consumer around the core: `subscriber` (the queue `hub.spikes`), `handler` (one locked step per
transaction, alerts recorded and emitted once, and the timer's `tick`), `store` (its tables), `backfill`
(history files into the counts), `cli` (`hub alerts ...`, `hub spikes backfill`).
"""

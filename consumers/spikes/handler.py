"""The spikes consumer's effects: count each call and report once, judge, and record and emit alerts, exactly once.

Deliveries only hand their message to the transaction (`apply_call` / `apply_report`); the work happens once
per transaction, when the batcher flushes the transaction's deferred rows (`infra.batcher.deferred`), because a
step must see the whole batch in event-time order (the broker's order, and the batcher's message-id order, are
not event-time order: a replay at full speed puts hours of event time in one batch). In the step:

1. lock the `spike_state` row (serialises the steps of all replicas, see `store.py`);
2. store the batch's contacts; only calls and reports never seen before (under any message id) count;
3. run `SpikeEngine.process` on the new ones, with the counts in `spike_counts` (upserted atomically)
   and the silences of `alert_silences`;
4. record every action in `alerts` under its unique key `<incident>/<kind>/<seq>` (`detected` and
   `resolved` have seq 1: once per incident, ever); what is sent goes to the outbox (the batcher's writer) with
   that key as its message id; silenced and inhibited ones are recorded as `suppressed-*` and not sent;
5. write the state (book, watermark, baseline of the day) back to the locked row.

The timer (`tick`, every HUB_SPIKES_TICK_S) runs the same step without messages, in a transaction of its
own: in live operation it advances event time on the wall clock, so updates and resolutions come on time
when no message arrives. Which mode the hub is in is read from event time itself: after each step the
state is *live* when event time has reached the wall clock less `HUB_SPIKES_LIVE_LAG_S` (15 min), and
*replaying* when it lags further behind (a replay of the past, a backlog after an outage). While replaying,
only messages move event time (with timer steps in event time between them, `SpikeEngine.process`), so a
replay at full speed still gives the alerts the year lived gave; the timer does nothing. A late message
does not lower event time, so it does not switch a live hub to replaying. Replicas tick too: the step
locks the `spike_state` row, and an incident resolved by one replica's tick has left the book the next
one reads, so it is resolved once.

A failed commit rolls all of it back with the inbox entries, so every message is counted once and every
alert is emitted once, whatever the crashes, redeliveries and replicas.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import Catalogue
from consumers.domain.places import PlaceFinder, place_report
from consumers.spikes.baseline import BaselineModel
from consumers.spikes.config import SpikeConfig
from consumers.spikes.drafts import build_spike_detected, build_spike_resolved
from consumers.spikes.engine import (
    DEFAULT_MAX_FUTURE_SKEW,
    DEFAULT_TICK,
    DEFAULT_WARMUP,
    EngineState,
    Observation,
    Progress,
    SpikeEngine,
    observe,
)
from consumers.spikes.lifecycle import Action, Fire, Incident, Resolve, Suppress, Update
from consumers.spikes.store import (
    ContactFact,
    DbCounts,
    active_silences,
    incident_content,
    insert_assignments,
    insert_contacts,
    load_baseline,
    lock_state,
    next_seq,
    record_alert,
    save_state,
    utc,
)
from contracts import CallLogged, ReportFiled, SpikeDetected, SpikeResolved, WorkOrderIssued
from infra.batcher import TransactionBatcher, deferred
from infra.clock import utcnow
from infra.outbox import Outgoing
from infra.topology import CITY_EVENTS

log = logging.getLogger(__name__)

_PENDING = "spikes.pending"

SENT, SUPPRESSED = "sent", "suppressed"
DEFAULT_LIVE_LAG = dt.timedelta(minutes=15)


@dataclass
class _Batch:
    """The calls and reports of one transaction, stepped through once all its deliveries were applied."""

    service: SpikesService
    observations: list[tuple[str | None, Observation]] = field(default_factory=list)
    contacts: dict[str, ContactFact] = field(default_factory=dict)
    # (report id, assignee) of the transaction's work orders: one executemany in the step, not a statement each.
    assignments: set[tuple[str, str]] = field(default_factory=set)
    # The timer's transaction: advance event time on the wall clock if the hub is live.
    tick: bool = False
    # The baseline this step fitted: cached by the service only once stored (a refit rolled back here may be done
    # differently by another replica).
    fitted: tuple[dt.date, BaselineModel] | None = None

    async def flush(self, session: AsyncSession) -> list[Outgoing]:
        return await session.run_sync(lambda sync: self.service.step(sync, self))

    def committed(self) -> None:
        if self.fitted is not None:
            self.service.baseline_cache = self.fitted


def contact_of(message: CallLogged | ReportFiled, observation: Observation) -> ContactFact | None:
    """The contact row of a call or report that counts somewhere (no row for service calls: nothing to count)."""
    if not observation.increments:
        return None
    key = observation.increments[0].key
    if isinstance(message, CallLogged):
        return ContactFact(
            contact_id=f"call:{message.call_id}",
            kind="call",
            at=observation.at,
            category=key.category,
            district=key.district,
            street=None,
            waste_fraction=None,
            report_id=message.related_report_id,
        )
    return ContactFact(
        contact_id=f"report:{message.report_id}",
        kind="report",
        at=observation.at,
        category=key.category,
        district=key.district,
        street=message.location.street,
        waste_fraction=message.waste_fraction,
        report_id=message.report_id,
    )


class SpikesService:
    """The consumer's decision and effects; the pure part is `SpikeEngine`, the tables are in `store.py`."""

    def __init__(
        self,
        config: SpikeConfig,
        catalogue: Catalogue,
        calendar: CityCalendar,
        *,
        warmup: dt.timedelta = DEFAULT_WARMUP,
        max_future_skew: dt.timedelta = DEFAULT_MAX_FUTURE_SKEW,
        tick: dt.timedelta = DEFAULT_TICK,
        live_lag: dt.timedelta = DEFAULT_LIVE_LAG,
        clock: Callable[[], dt.datetime] = utcnow,
        places: PlaceFinder | None = None,
    ) -> None:
        self.places = places
        self.config = config
        self.catalogue = catalogue
        self.calendar = calendar
        self.engine = SpikeEngine(
            config, closed_day=calendar.is_public_holiday, warmup=warmup, max_future_skew=max_future_skew, tick=tick
        )
        self.live_lag = live_lag
        self.clock = clock
        # The day's baseline, as this process last read or fitted it: it changes once a day.
        self.baseline_cache: tuple[dt.date, BaselineModel] | None = None
        codes = [*config.categories, "default"]
        longest = max(config.for_category(c).span_minutes + config.for_category(c).bucket_minutes for c in codes)
        self._longest_span = dt.timedelta(minutes=longest)
        self.last_progress = Progress()

    def category_of(self, subject: str) -> str | None:
        category = self.catalogue.category_for_call_subject(subject)
        return category.code if category is not None else None

    # ---- what deliveries do: hand their message to the transaction

    async def apply_call(self, session: AsyncSession, call: CallLogged, message_id: str) -> None:
        """Count a call about a report category toward its district (judged when the transaction commits)."""
        self._add(session, call, message_id)

    async def apply_report(self, session: AsyncSession, report: ReportFiled, message_id: str) -> None:
        """Count a report toward its district and street (judged when the transaction commits)."""
        # A point without a district counts in the district it lies in (or as outside the city).
        self._add(session, place_report(report, self.places).report, message_id)

    async def apply_workorder(self, session: AsyncSession, order: WorkOrderIssued) -> None:
        """Remember who got a work order for a report: an alert names the assignees already notified (written in the
        transaction's step, with the others)."""
        self._batch(session).assignments.add((order.report_id, order.assignee))

    async def tick(self, batcher: TransactionBatcher) -> None:
        """The timer: one step without messages, in a transaction of its own (see the module docstring)."""
        await batcher.run(self._tick)

    async def _tick(self, session: AsyncSession) -> None:
        self._batch(session).tick = True

    def _add(self, session: AsyncSession, message: CallLogged | ReportFiled, message_id: str) -> None:
        observation = observe(message, message_id, self.config, self.category_of)
        contact = contact_of(message, observation)
        batch = self._batch(session)
        if contact is not None:
            # The same call or report twice in one transaction (two message ids): the first one counts.
            if contact.contact_id in batch.contacts:
                return
            batch.contacts[contact.contact_id] = contact
        batch.observations.append((None if contact is None else contact.contact_id, observation))

    def _batch(self, session: AsyncSession) -> _Batch:
        return deferred(session, _PENDING, lambda: _Batch(self))

    # ---- the step, in the transaction, under the state lock

    def step(self, session: Session, batch: _Batch) -> list[Outgoing]:
        """Count, judge, record and emit for one transaction's calls and reports; the messages it emitted."""
        now = self.clock()
        locked = lock_state(session, now)
        insert_assignments(session, batch.assignments)
        new = insert_contacts(session, batch.contacts)
        observations = [obs for contact_id, obs in batch.observations if contact_id is None or contact_id in new]
        if not batch.observations and not (batch.tick and bool(locked.state.get("live", False))):
            # The timer while replaying (or before anything was counted): event time is the messages'; or only
            # work orders' assignees to remember: nothing to judge.
            return []
        state = self._state(session, locked.state, locked.baseline_day)
        day_before = state.baseline_day

        store = DbCounts(session)
        if observations:
            earliest = min(o.at for o in observations)
            if state.watermark is not None:
                earliest = min(earliest, state.watermark)
            keys = {k for o in observations for k in o.keys} | set(state.book.live_keys())
            store.preload(keys, earliest - self._longest_span)
        progress = Progress()
        silences = active_silences(session, state.watermark)
        actions = self.engine.process(state, observations, store, silences=silences, wall_now=now, progress=progress)
        if batch.tick and state.live:
            actions += self.engine.advance(state, now, store, silences=silences, progress=progress)
        state.live = state.watermark is not None and state.watermark >= now - self.live_lag
        store.flush()
        self.last_progress = progress
        if progress.future:
            log.warning(
                "spike counts: messages stamped in the future did not move event time", extra={"n": progress.future}
            )

        outgoing: list[Outgoing] = []
        for action in actions:
            outgoing.extend(self._record(session, action, now))

        refitted = state.baseline_day != day_before and state.baseline is not None
        save_state(
            session,
            state.to_dict(),
            now=now,
            baseline_day=state.baseline_day,
            baseline=state.baseline.to_dict() if refitted and state.baseline is not None else None,
        )
        if refitted and state.baseline is not None and state.baseline_day is not None:
            batch.fitted = (state.baseline_day, state.baseline)
        return outgoing

    def _state(self, session: Session, raw: dict[str, Any], baseline_day: dt.date | None) -> EngineState:
        baseline: BaselineModel | None = None
        if baseline_day is not None:
            if self.baseline_cache is not None and self.baseline_cache[0] == baseline_day:
                baseline = self.baseline_cache[1]
            else:
                stored = load_baseline(session)
                if stored is not None:
                    baseline = BaselineModel.from_dict(stored, closed_day=self.calendar.is_public_holiday)
                    self.baseline_cache = (baseline_day, baseline)
        state = EngineState.from_dict(self.config, raw, baseline=baseline)
        # The column is what was locked and read; without a model the day is fitted again.
        state.baseline_day = baseline_day if baseline is not None else None
        return state

    def _record(self, session: Session, action: Action, now: dt.datetime) -> list[Outgoing]:
        """One `alerts` row per action, under its unique key; the outgoing message if it is to be sent."""
        incident = action.incident
        kind, state, message, reason = self._classify(session, action)
        seq = 1 if kind in ("detected", "resolved") else next_seq(session, incident.incident_id, kind)
        alert_id = f"{incident.incident_id}/{kind}/{seq}"
        inserted = record_alert(
            session,
            {
                "alert_id": alert_id,
                "incident_id": incident.incident_id,
                "incident_key": incident.incident_key,
                "kind": kind,
                "seq": seq,
                "state": state,
                "reason": reason,
                "category": incident.category,
                "district": incident.district,
                "street": incident.street,
                "event_at": utc(incident.at),
                "onset": utc(incident.onset),
                "resolved_at": None if incident.resolved_at is None else utc(incident.resolved_at),
                "observed": incident.observed,
                "expected": incident.expected,
                "p_value": incident.p_value,
                "routing_key": message.routing_key if message is not None else None,
                "body": message.model_dump_json().encode() if message is not None else None,
                "created_at": utc(now),
            },
        )
        if not inserted:
            # Decided before (the book was rebuilt, or a replay): the unique key keeps it from going out twice.
            log.info("spike alert already recorded", extra={"alert_id": alert_id})
            return []
        log.info(
            "spike alert %s", state, extra={"alert_id": alert_id, "incident_id": incident.incident_id, "kind": kind}
        )
        if state != SENT or message is None:
            return []
        return [
            Outgoing.of(
                message,
                exchange=CITY_EVENTS.name,
                routing_key=message.routing_key,
                message_id=alert_id,
                subject=incident.incident_id,
                time=incident.at,
            )
        ]

    def _classify(
        self, session: Session, action: Action
    ) -> tuple[str, str, SpikeDetected | SpikeResolved | None, str | None]:
        """(alert kind, state, the message it says or would say, why it was suppressed) of one action."""
        incident = action.incident
        if isinstance(action, Fire):
            return "detected", SENT, self._detected(session, incident, update=False), None
        if isinstance(action, Update):
            return "update", SENT, self._detected(session, incident, update=True), None
        if isinstance(action, Resolve):
            return "resolved", SENT, build_spike_resolved(incident), None
        assert isinstance(action, Suppress)
        # A silenced detection keeps its draft, so the team can read what it would have said.
        message = (
            self._detected(session, incident, update=action.kind == "update")
            if action.kind in ("fire", "update")
            else None
        )
        return f"suppressed-{action.kind}", SUPPRESSED, message, action.reason

    def _detected(self, session: Session, incident: Incident, *, update: bool) -> SpikeDetected:
        content = incident_content(session, incident)
        return build_spike_detected(
            incident,
            self.config,
            update=update,
            fraction=content.fraction,
            assignees=content.assignees,
            sample_report_ids=content.sample_report_ids,
            first_seen_at=content.first_seen_at,
            last_seen_at=content.last_seen_at,
            affected_streets=content.affected_streets or None,
        )

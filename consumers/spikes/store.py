"""The spikes consumer's tables: counts, contacts, the locked state row, alerts and silences.

Everything here runs on a *sync* `Session` inside the consumer's transaction (the commit hook in
`handler.py`; the batcher owns the async transaction). Times are stored as UTC instants: SQLite keeps
no offset, so an aware time in another zone would be stored as its wall time.

Concurrency, on PostgreSQL: every spikes transaction first locks the one `spike_state` row
(`SELECT ... FOR UPDATE`) and only then touches counts, contacts and alerts. Transactions of two replicas
therefore run their steps one after the other, each seeing the other's committed counts and book, and
they cannot deadlock on the counters. SQLite has one writer at a time anyway (the inbox insert already
took the write lock), where `FOR UPDATE` is not rendered.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from consumers.spikes.detector import BucketCount, IncidentKey, Increment
from consumers.spikes.drafts import MAX_SAMPLE_REPORT_IDS, dominant_fraction
from consumers.spikes.groups import Scope
from consumers.spikes.lifecycle import Incident, Silence
from consumers.spikes.tables import Alert, AlertSilence, SpikeAssignment, SpikeContact, SpikeCount, SpikeState
from infra.clock import aware as aware  # re-exported: the spikes modules read stored times through the store
from infra.clock import utc as utc
from infra.db.dialect import chunks, dialect_insert, insert_ignore

STATE_ROW = "alerts"


# --------------------------------------------------------------------------------------------------
# The state row


@dataclass
class LockedState:
    """The state row's content, read under its lock."""

    state: dict[str, Any]
    baseline_day: dt.date | None


def lock_state(session: Session, now: dt.datetime) -> LockedState:
    """Create the row if it is missing, then lock it until the transaction ends (the alert-state serialisation)."""
    session.execute(
        insert_ignore(session, SpikeState).values(
            name=STATE_ROW, state={}, baseline_day=None, baseline=None, updated_at=utc(now)
        )
    )
    # Only the small columns: the baseline (tens of kB) is read when this process has not cached its day.
    row = session.execute(
        select(SpikeState.state, SpikeState.baseline_day).where(SpikeState.name == STATE_ROW).with_for_update()
    ).one()
    return LockedState(dict(row.state or {}), row.baseline_day)


def load_baseline(session: Session) -> dict[str, Any] | None:
    value = session.execute(select(SpikeState.baseline).where(SpikeState.name == STATE_ROW)).scalar_one_or_none()
    return dict(value) if value else None


def save_state(
    session: Session,
    state: dict[str, Any],
    *,
    now: dt.datetime,
    baseline_day: dt.date | None,
    baseline: dict[str, Any] | None,
) -> None:
    """Write the state back; the baseline only when it was refitted (`baseline` not None)."""
    values: dict[str, Any] = {"state": state, "updated_at": utc(now), "baseline_day": baseline_day}
    if baseline is not None:
        values["baseline"] = baseline
    session.execute(update(SpikeState).where(SpikeState.name == STATE_ROW).values(**values))


# --------------------------------------------------------------------------------------------------
# Counts


def _key(key_id: str, cache: dict[str, IncidentKey]) -> IncidentKey:
    found = cache.get(key_id)
    if found is None:
        found = cache[key_id] = IncidentKey.parse(key_id)
    return found


class DbCounts:
    """The engine's `CountStore` on `spike_counts`, for one transaction that holds the state lock.

    Reads are cached; increments go into the cache and into a pending set that is upserted, summed per
    (key, bucket) and in key order, before any query that must see them and at the end (`flush`). The
    upsert is `INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`: atomic in the database, never a
    read-modify-write here.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._cache: dict[IncidentKey, dict[dt.datetime, BucketCount]] = {}
        self._since: dict[IncidentKey, dt.datetime] = {}
        self._pending: dict[tuple[str, dt.datetime], list[int]] = {}
        self._keys: dict[str, IncidentKey] = {}
        self.queries = 0

    def preload(self, keys: Iterable[IncidentKey], since: dt.datetime) -> None:
        """Read the buckets of many keys in one query (the keys a batch touches, and the live ones)."""
        wanted = sorted({k for k in keys if k not in self._since or since < self._since[k]})
        if not wanted:
            return
        self.flush()
        for k in wanted:
            self._cache[k] = {}
            self._since[k] = since
        by_id = {k.id: k for k in wanted}
        ids = sorted(by_id)
        for chunk in chunks(ids):
            self._read(
                [by_id[x] for x in chunk], and_(SpikeCount.key_id.in_(chunk), SpikeCount.bucket_start >= utc(since))
            )

    def _read(self, keys: Sequence[IncidentKey], where: Any) -> None:
        self.queries += 1
        rows = self.session.execute(
            select(
                SpikeCount.key_id,
                SpikeCount.bucket_start,
                SpikeCount.calls,
                SpikeCount.reports,
                SpikeCount.linked_calls,
            ).where(where)
        )
        for key_id, start, calls, reports, linked in rows:
            key = _key(key_id, self._keys)
            moment = aware(start)
            self._cache.setdefault(key, {})[moment] = BucketCount(moment, calls, reports, linked)

    def add(self, increments: Sequence[Increment]) -> None:
        for inc in increments:
            per_key = self._cache.get(inc.key)
            if per_key is not None:
                delta = BucketCount(inc.bucket, inc.calls, inc.reports, inc.linked_calls)
                current = per_key.get(inc.bucket)
                per_key[inc.bucket] = delta if current is None else current + delta
            slot = self._pending.setdefault((inc.key.id, inc.bucket), [0, 0, 0])
            slot[0] += inc.calls
            slot[1] += inc.reports
            slot[2] += inc.linked_calls

    def buckets(self, key: IncidentKey, since: dt.datetime) -> Mapping[dt.datetime, BucketCount]:
        if key not in self._since or since < self._since[key]:
            self.preload([key], since)
        return self._cache.get(key, {})

    def history(self, since: dt.datetime, until: dt.datetime) -> Iterable[tuple[IncidentKey, dt.datetime, int]]:
        self.flush()
        self.queries += 1
        observed = SpikeCount.calls + SpikeCount.reports - SpikeCount.linked_calls
        rows = self.session.execute(
            select(SpikeCount.key_id, SpikeCount.bucket_start, observed).where(
                SpikeCount.bucket_start >= utc(since), SpikeCount.bucket_start < utc(until), observed > 0
            )
        )
        return [(_key(key_id, self._keys), aware(start), int(n)) for key_id, start, n in rows]

    def flush(self) -> None:
        """Upsert the pending increments, in key order (one summed row per key and bucket)."""
        if not self._pending:
            return
        table = SpikeCount.__table__
        stmt = dialect_insert(self.session, SpikeCount)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key_id", "bucket_start"],
            set_={
                "calls": table.c.calls + stmt.excluded.calls,
                "reports": table.c.reports + stmt.excluded.reports,
                "linked_calls": table.c.linked_calls + stmt.excluded.linked_calls,
            },
        )
        rows = [
            {"key_id": key_id, "bucket_start": utc(start), "calls": c, "reports": r, "linked_calls": x}
            for (key_id, start), (c, r, x) in sorted(self._pending.items())
        ]
        self._pending.clear()
        for chunk in chunks(rows):
            self.session.execute(stmt, chunk)


# --------------------------------------------------------------------------------------------------
# Contacts: each call and report counted once, and what an alert names


@dataclass(frozen=True, slots=True)
class ContactFact:
    contact_id: str
    kind: str
    at: dt.datetime
    category: str
    district: str
    street: str | None
    waste_fraction: str | None
    report_id: str | None


def insert_contacts(session: Session, facts: Mapping[str, ContactFact]) -> set[str]:
    """Store the contacts not stored yet; the ids that were new (a call or report seen under another message id is not)."""
    if not facts:
        return set()
    stmt = insert_ignore(session, SpikeContact).returning(SpikeContact.contact_id)
    rows = [
        {
            "contact_id": f.contact_id,
            "kind": f.kind,
            "at": utc(f.at),
            "category": f.category,
            "district": f.district,
            "street": f.street,
            "waste_fraction": f.waste_fraction,
            "report_id": f.report_id,
        }
        for _, f in sorted(facts.items())
    ]
    new: set[str] = set()
    for chunk in chunks(rows):
        new.update(session.execute(stmt, chunk).scalars())
    return new


@dataclass(frozen=True)
class AlertContent:
    """What the counts do not know about an incident, read from its contacts."""

    first_seen_at: dt.datetime | None
    last_seen_at: dt.datetime | None
    affected_streets: list[str]
    sample_report_ids: list[str]
    fraction: str | None
    assignees: list[str]


def incident_content(session: Session, incident: Incident) -> AlertContent:
    """The incident's contacts from its onset up to the step that produced the action (later ones not yet)."""
    c = SpikeContact
    where = [
        c.category == incident.category,
        c.district == incident.district,
        c.at >= utc(incident.onset),
        c.at <= utc(incident.at),
    ]
    if incident.scope is Scope.STREET and incident.scope_streets:
        # A street incident in a busy district: its own streets' reports, not the district's other traffic.
        where += [c.kind == "report", c.street.in_(incident.scope_streets)]
    first, last = session.execute(select(func.min(c.at), func.max(c.at)).where(*where)).one()
    reports = session.execute(
        select(c.report_id, c.street, c.waste_fraction).where(*where, c.kind == "report").order_by(c.at, c.report_id)
    ).all()
    streets = Counter(street for _, street, _ in reports if street)
    assignees = session.execute(
        select(SpikeAssignment.assignee)
        .join(c, c.report_id == SpikeAssignment.report_id)
        .where(*where, c.kind == "report")
        .distinct()
        .order_by(SpikeAssignment.assignee)
    ).scalars()
    return AlertContent(
        first_seen_at=None if first is None else aware(first),
        last_seen_at=None if last is None else aware(last),
        affected_streets=[s for s, _ in sorted(streets.items(), key=lambda item: (-item[1], item[0]))],
        sample_report_ids=[r for r, _, _ in reports if r][:MAX_SAMPLE_REPORT_IDS],
        fraction=dominant_fraction(f for _, _, f in reports),
        assignees=list(assignees),
    )


def insert_assignments(session: Session, assignments: Iterable[tuple[str, str]]) -> None:
    """Remember (report id, assignee) pairs: one executemany in key order (a pair stored before is left alone)."""
    rows = [{"report_id": report_id, "assignee": assignee} for report_id, assignee in sorted(assignments)]
    stmt = insert_ignore(session, SpikeAssignment)
    for chunk in chunks(rows):
        session.execute(stmt, chunk)


# --------------------------------------------------------------------------------------------------
# Silences


def active_silences(session: Session, after: dt.datetime | None) -> list[Silence]:
    """Silences not cancelled and not over before event time `after` (the book checks start and end itself)."""
    query = select(AlertSilence).where(AlertSilence.cancelled_at.is_(None)).order_by(AlertSilence.silence_id)
    if after is not None:
        # Event time never goes back before the watermark: a silence over by then can match nothing.
        query = query.where(AlertSilence.ends_at > utc(after))
    rows = session.execute(query).scalars()
    return [silence_of(row) for row in rows]


def silence_of(row: AlertSilence) -> Silence:
    return Silence(
        silence_id=row.silence_id,
        ends_at=aware(row.ends_at),
        reason=row.reason,
        category=row.category,
        district=row.district,
        street=row.street,
        starts_at=None if row.starts_at is None else aware(row.starts_at),
    )


# --------------------------------------------------------------------------------------------------
# Alerts and the outbox


def next_seq(session: Session, incident_id: str, kind: str) -> int:
    count = session.execute(
        select(func.count()).select_from(Alert).where(Alert.incident_id == incident_id, Alert.kind == kind)
    ).scalar_one()
    return int(count) + 1


def record_alert(session: Session, values: dict[str, Any]) -> bool:
    """Insert the alert row; False when its key (incident, kind, seq) exists: it was decided (and sent) before."""
    inserted = session.execute(insert_ignore(session, Alert).values(**values).returning(Alert.id)).scalar_one_or_none()
    return inserted is not None

"""What the communication team does with an alert, whichever way it asks: `hub alerts ...` and the console call these.

* a silence: a row of `alert_silences` (created, or cancelled and kept for the record). The spikes consumer reads
  the silences in every transaction, so a new one applies from the next message on, in every replica;
* a notice posted (`IncidentBroadcast`, routing key `spike.broadcast`), published on `city.events` with a
  confirm, as any of the city's tools may: the statistics mark it on the incident's timeline;
* a draft edited: the team's own text for an incident in one language (`incident_drafts`), kept beside the
  generated one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

import aio_pika
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.domain.refusal import Refusal
from consumers.spikes.silences import Scope, SilenceError, new_silence_id
from consumers.spikes.store import utc
from consumers.spikes.tables import Alert, AlertSilence, IncidentDraft
from contracts import IncidentBroadcast
from infra import amqp
from infra.cloudevents import amqp_headers, amqp_properties, meta_for
from infra.db.dialect import dialect_insert
from infra.topology import CITY_EVENTS

# Something to write in the action's own transaction (the console's audit row), so the two commit together.
Record = Callable[[AsyncSession], Awaitable[None]] | None

BROADCAST_SOURCE = "/city/communication"
DRAFT_LANGUAGES = ("nl", "en", "fr")
MAX_DRAFT_CHARS = 2000
MAX_REASON_CHARS = 500


async def create_silence(
    sessions: async_sessionmaker[AsyncSession],
    scope: Scope,
    *,
    ends_at: dt.datetime,
    reason: str,
    created_by: str | None,
    now: dt.datetime,
    record: Record = None,
) -> str:
    """A new silence of `scope` until `ends_at`; its id."""
    if ends_at <= now:
        raise SilenceError("the silence would end in the past", "ends_in_past")
    reason = reason.strip()
    if not reason:
        raise SilenceError("give a reason (it is shown with every alert the silence holds back)", "no_reason")
    if len(reason) > MAX_REASON_CHARS:
        raise SilenceError(
            f"the reason is longer than {MAX_REASON_CHARS} characters", "reason_long", max=MAX_REASON_CHARS
        )
    silence_id = new_silence_id()
    async with sessions() as session, session.begin():
        session.add(
            AlertSilence(
                silence_id=silence_id,
                category=scope.category,
                district=scope.district,
                street=scope.street,
                starts_at=None,
                ends_at=utc(ends_at),
                reason=reason,
                created_by=created_by,
                created_at=utc(now),
                cancelled_at=None,
            )
        )
        if record is not None:
            await record(session)
    return silence_id


async def cancel_silence(
    sessions: async_sessionmaker[AsyncSession], silence_id: str, now: dt.datetime, record: Record = None
) -> bool:
    """Cancel a silence (kept for the record); False if there is no such silence still in force."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(AlertSilence)
            .where(AlertSilence.silence_id == silence_id, AlertSilence.cancelled_at.is_(None))
            .values(cancelled_at=utc(now))
            .returning(AlertSilence.silence_id)
        )
        done = result.scalar_one_or_none() is not None
        if done and record is not None:
            await record(session)
        return done


async def incident_scope(sessions: async_sessionmaker[AsyncSession], incident_id: str) -> Scope:
    """The category and district of an incident the `alerts` table knows."""
    async with sessions() as session:
        row = (
            await session.execute(
                select(Alert.category, Alert.district).where(Alert.incident_id == incident_id).limit(1)
            )
        ).first()
    if row is None:
        raise SilenceError(
            f"no alert recorded for incident {incident_id!r} (see `hub alerts list`)", "no_alert", incident=incident_id
        )
    return Scope(row.category, row.district, None)


def broadcast_event_id(broadcast: IncidentBroadcast) -> str:
    # The same notice published twice (a retried command, a second click) has the same id: the statistics keep it once.
    return f"broadcast/{broadcast.incident_id}/{broadcast.broadcast_at.isoformat()}"


async def publish_broadcast(amqp_url: str, broadcast: IncidentBroadcast) -> str:
    """Publish the notice with a confirm; mandatory, so it fails loudly when no hub queue takes it. Its event id."""
    event_id = broadcast_event_id(broadcast)
    meta = meta_for(broadcast, source=BROADCAST_SOURCE, event_id=event_id, time=broadcast.broadcast_at)
    connection = await amqp.connect(amqp_url, "spikes-broadcast")
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(CITY_EVENTS.name, ensure=False)
        await exchange.publish(
            aio_pika.Message(
                body=broadcast.model_dump_json().encode(),
                headers=dict(amqp_headers(meta)),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                **amqp_properties(meta),
            ),
            routing_key=IncidentBroadcast.routing_key,
            mandatory=True,
            timeout=30,
        )
    return event_id


class DraftError(Refusal):
    """A draft that cannot be saved as given."""


async def save_draft(
    sessions: async_sessionmaker[AsyncSession],
    incident_id: str,
    lang: str,
    text: str,
    *,
    edited_by: str,
    now: dt.datetime,
    record: Record = None,
) -> None:
    """The team's own text of an incident's draft in one language (replacing its earlier edit); an empty text
    goes back to the generated draft."""
    if lang not in DRAFT_LANGUAGES:
        raise DraftError(f"no draft language {lang!r} (nl, en, fr)", "draft_lang", lang=lang)
    text = text.strip()
    if len(text) > MAX_DRAFT_CHARS:
        raise DraftError(f"a draft is at most {MAX_DRAFT_CHARS} characters", "draft_long", max=MAX_DRAFT_CHARS)
    await incident_scope(sessions, incident_id)  # an incident the hub alerted about, not any id
    async with sessions() as session, session.begin():
        if record is not None:
            await record(session)
        if not text:
            await session.execute(
                delete(IncidentDraft).where(IncidentDraft.incident_id == incident_id, IncidentDraft.lang == lang)
            )
            return
        stmt = dialect_insert(session, IncidentDraft).values(
            incident_id=incident_id, lang=lang, text=text, edited_by=edited_by, edited_at=utc(now)
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["incident_id", "lang"],
                set_={
                    "text": stmt.excluded.text,
                    "edited_by": stmt.excluded.edited_by,
                    "edited_at": stmt.excluded.edited_at,
                },
            )
        )

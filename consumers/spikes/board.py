"""The communication team's board and the agents' "what is going on now": read models of the live incidents.

Read, never written: the alert book in `spike_state` (the live incidents as the consumer last left them), the
contacts behind each (`incident_content`: first and last contact, streets, the assignees whose work orders were
issued), the silences in force, the alerts recorded, and the team's own edits of the drafts (`incident_drafts`).
The drafts are rendered again from the incident as it stands now (more assignees may have been informed since
the alert), in Dutch, English and French; an edit replaces its language's text and keeps the generated one beside
it. No personal data: the spikes tables hold none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from consumers.spikes.config import Names, SpikeConfig
from consumers.spikes.drafts import assignee_names, render_drafts
from consumers.spikes.engine import EngineState
from consumers.spikes.lifecycle import Incident, Silence
from consumers.spikes.silences import Scope
from consumers.spikes.store import STATE_ROW, AlertContent, aware, incident_content, silence_of, utc
from consumers.spikes.tables import Alert, AlertSilence, IncidentDraft, SpikeState

LANGUAGES = ("nl", "en", "fr")


@dataclass(frozen=True)
class Draft:
    """One language's notice: the team's edit if there is one, else the generated text."""

    lang: str
    generated: str | None
    edited: str | None = None
    edited_by: str | None = None
    edited_at: dt.datetime | None = None

    @property
    def text(self) -> str:
        return self.edited if self.edited is not None else (self.generated or "")


@dataclass(frozen=True)
class LiveIncident:
    """A live incident as the team and the agents see it."""

    incident: Incident
    label: Names
    fraction: str | None
    streets: tuple[str, ...]
    first_contact: dt.datetime | None
    last_contact: dt.datetime | None
    assignees: tuple[str, ...]
    assignee_names: tuple[Names, ...]
    # The silence in force that holds its alerts back, if any; announced: its `spike.detected` was sent.
    silenced_by: str | None
    announced: bool
    drafts: dict[str, Draft]

    @property
    def incident_id(self) -> str:
        return self.incident.incident_id

    @property
    def ratio(self) -> float | None:
        """The window's count over its expectation (how far above normal)."""
        i = self.incident
        return None if i.expected <= 0 else i.observed / i.expected


@dataclass(frozen=True)
class Board:
    """The live incidents at event time `watermark` (the time stamped in the last message counted)."""

    watermark: dt.datetime | None
    incidents: list[LiveIncident]
    silences: list[AlertSilence]

    def find(self, incident_id: str) -> LiveIncident | None:
        return next((i for i in self.incidents if i.incident_id == incident_id), None)


def _streets(incident: Incident, content: AlertContent) -> tuple[str, ...]:
    named = list(dict.fromkeys([*incident.scope_streets, *content.affected_streets, *incident.affected_streets]))
    return tuple(named)


def drafts_for(
    config: SpikeConfig, incident: Incident, content: AlertContent, edits: Iterable[IncidentDraft] = ()
) -> dict[str, Draft]:
    """The three languages' drafts of an incident now, each with the team's edit when there is one."""
    generated = render_drafts(
        config,
        category=incident.category,
        district=incident.district,
        streets=incident.scope_streets,
        fraction=content.fraction,
        assignees=content.assignees,
    )
    by_lang = {e.lang: e for e in edits}
    out: dict[str, Draft] = {}
    for lang in LANGUAGES:
        edit = by_lang.get(lang)
        out[lang] = Draft(
            lang,
            generated.get(lang),
            None if edit is None else edit.text,
            None if edit is None else edit.edited_by,
            None if edit is None else aware(edit.edited_at),
        )
    return out


def silence_in_force(incident: Incident, silences: Iterable[Silence], at: dt.datetime) -> Silence | None:
    """The first silence (by id, as the book picks it) active at `at` that matches the incident."""
    return next((s for s in sorted(silences, key=lambda s: s.silence_id) if s.active(at) and s.matches(incident)), None)


def matching(scope: Scope, incidents: Sequence[LiveIncident]) -> list[LiveIncident]:
    """The live incidents a silence of `scope` would hold back (the preview before it is made)."""
    probe = Silence("preview", dt.datetime.max.replace(tzinfo=dt.UTC), "", scope.category, scope.district, scope.street)
    return [i for i in incidents if probe.matches(i.incident)]


async def _state(session: AsyncSession, config: SpikeConfig) -> EngineState:
    raw = (await session.execute(select(SpikeState.state).where(SpikeState.name == STATE_ROW))).scalar()
    return EngineState.from_dict(config, dict(raw or {}))


async def board(session: AsyncSession, config: SpikeConfig, *, now: dt.datetime) -> Board:
    """The live incidents, the silences in force (at `now`, the wall clock) and what the team needs of each."""
    state = await _state(session, config)
    rows = list(
        (
            await session.execute(
                select(AlertSilence)
                .where(AlertSilence.cancelled_at.is_(None), AlertSilence.ends_at > utc(now))
                .order_by(AlertSilence.ends_at)
            )
        ).scalars()
    )
    silences = [silence_of(r) for r in rows]
    incidents = state.book.incidents()
    ids = [i.incident_id for i in incidents]
    edits: dict[str, list[IncidentDraft]] = {}
    announced: set[str] = set()
    if ids:
        for edit in (await session.execute(select(IncidentDraft).where(IncidentDraft.incident_id.in_(ids)))).scalars():
            edits.setdefault(edit.incident_id, []).append(edit)
        announced = set(
            (
                await session.execute(
                    select(Alert.incident_id).where(
                        Alert.incident_id.in_(ids), Alert.kind == "detected", Alert.state == "sent"
                    )
                )
            ).scalars()
        )
    at = state.book.watermark or now
    live: list[LiveIncident] = []
    for incident in incidents:
        content = await session.run_sync(lambda s, i=incident: incident_content(s, i))  # type: ignore[misc]
        silence = silence_in_force(incident, silences, max(at, now))
        live.append(
            LiveIncident(
                incident=incident,
                label=config.for_category(incident.category).label,
                fraction=content.fraction,
                streets=_streets(incident, content),
                first_contact=content.first_seen_at or incident.onset,
                last_contact=content.last_seen_at or incident.last_active_at,
                assignees=tuple(content.assignees),
                assignee_names=tuple(assignee_names(config, content.assignees)) if content.assignees else (),
                silenced_by=None if silence is None else silence.silence_id,
                announced=incident.incident_id in announced,
                drafts=drafts_for(config, incident, content, edits.get(incident.incident_id, ())),
            )
        )
    # Newest first: the incident that just started is the one the phones ring about.
    live.sort(key=lambda i: (i.incident.detected_at, i.incident_id), reverse=True)
    return Board(state.book.watermark, live, rows)


@dataclass(frozen=True)
class AlertEvent:
    """One alert the lifecycle decided for an incident: sent (detected, update, resolved) or held back, and why."""

    at: dt.datetime
    kind: str
    state: str
    reason: str | None
    observed: int
    expected: float


async def incident_alerts(session: AsyncSession, incident_id: str) -> list[AlertEvent]:
    """The incident's alerts in event-time order (its timeline's marks besides the broadcast)."""
    rows = (
        await session.execute(
            select(Alert.event_at, Alert.kind, Alert.state, Alert.reason, Alert.observed, Alert.expected)
            .where(Alert.incident_id == incident_id)
            .order_by(Alert.event_at, Alert.id)
        )
    ).all()
    return [AlertEvent(aware(r[0]), r[1], r[2], r[3], int(r[4]), float(r[5])) for r in rows]


async def drafts_of(session: AsyncSession, incident_id: str) -> list[IncidentDraft]:
    return list(
        (await session.execute(select(IncidentDraft).where(IncidentDraft.incident_id == incident_id))).scalars()
    )


# --------------------------------------------------------------------------------------------------
# For the agents: the sentence to tell a caller

_CALLER_LEAD = {
    "nl": "We zijn op de hoogte: {draft}",
    "en": "We know about it: {draft}",
    "fr": "Nous sommes au courant : {draft}",
}
_CALLER_POSTED = {
    "nl": " Meer informatie staat op de website van de stad.",
    "en": " There is more on the city's website.",
    "fr": " Plus d'informations sur le site de la ville.",
}


def _lower_first(text: str) -> str:
    # "Het restafval ..." after "We zijn op de hoogte:" reads "het restafval ..."; a street or a place keeps its capital.
    head, _, _ = text.partition(" ")
    if head in {"De", "Het", "In", "The", "La", "Le", "Les", "Dans", "Des", "Il", "Plusieurs", "Several", "Many"}:
        return text[:1].lower() + text[1:]
    return text


def caller_sentence(live: LiveIncident, lang: str = "nl", *, posted: bool = False) -> str:
    """What an agent tells a caller about a known incident: the team's notice (its edit if any), led by "we know"."""
    draft = live.drafts.get(lang)
    text = draft.text if draft is not None and draft.text else live.drafts["nl"].text
    if draft is None or not draft.text:
        lang = "nl"
    sentence = _CALLER_LEAD[lang].format(draft=_lower_first(text))
    return sentence + (_CALLER_POSTED[lang] if posted else "")

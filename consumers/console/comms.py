"""The console's pages for the communication team and the ContactCenter's agents (issue 15), under `/console/`.

The communication team (`comms`):
  /console/comms/                       the live incidents (consumers.spikes.board)
  /console/comms/incidents/{id}         one incident: figures, drafts nl/en/fr (edit, copy), "Posted" with the
                                        channels, its timeline with the alert, the notice and the resolution marked,
                                        what the notice saved, the alerts recorded; every alert e-mail and chat
                                        message links here (consumers.notifier.compose.incident_url)
  POST .../drafts/{lang}                save the team's text (consumers.spikes.actions.save_draft)
  POST .../posted                       publish `spike.broadcast` as `hub alerts broadcast` does (the same
                                        consumers.spikes.actions.publish_broadcast)
  /console/comms/silences               silences in force, a new one, ending one (consumers.console.comms_silences)
  /console/comms/history                past incidents with what each notice saved (consumers.stats)
The agents (`agent`; the team too):
  /console/agent/                       the live incidents with the sentence to tell callers
  /console/agent/lookup?q=              a report or work order by id or street, its status and due dates
                                        (consumers.router.lookup), contact data only for the roles allowed

Every form carries the session's CSRF token (`check_csrf`) and every action is written to the audit trail in its
own transaction (`audit`, consumers.console.auth). The words are in the console's catalogue (comms_text, nl/en/fr).
Nothing here decides: the read models and actions live in the features that own the data.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.console.auth import ConsoleUser, Form, audit, check_csrf, require_roles
from consumers.console.comms_text import register_messages
from consumers.console.comms_timeline import Step, timeline_svg
from consumers.console.i18n import translate
from consumers.console.refusals import refused
from consumers.console.templates import render as render_page
from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import Catalogue
from consumers.domain.refusal import Refusal
from consumers.router.lookup import MAX_QUERY_CHARS, QueryRefused, lookup
from consumers.spikes import actions
from consumers.spikes.board import (
    LANGUAGES,
    AlertEvent,
    Draft,
    LiveIncident,
    board,
    caller_sentence,
    drafts_of,
    incident_alerts,
)
from consumers.spikes.config import SpikeConfig
from consumers.spikes.drafts import render_drafts
from consumers.spikes.silences import SilenceError
from consumers.spikes.tables import Alert, IncidentDraft
from consumers.stats import queries
from consumers.stats.api import StatsApi
from consumers.stats.schemas import TimelineOut, TimelineParams
from consumers.stats.tables import StatIncident
from contracts import BroadcastChannel, IncidentBroadcast, SpikeDetected
from infra.clock import utcnow
from infra.errors import describe
from infra.http.deps import service

register_messages()

COMMS = "/console/comms"
AGENT = "/console/agent"
HISTORY_DAYS = 30
MAX_ID = 200


@dataclass
class CommsConsole:
    """What the pages read and act with; the composition root (hub.http) builds it once."""

    sessions: async_sessionmaker[AsyncSession]
    config: SpikeConfig
    calendar: CityCalendar
    catalogue: Catalogue
    stats: StatsApi
    amqp_url: str
    # Roles that see reporters' contact data in a lookup (none by default: the page says so).
    contact_roles: frozenset[str] = frozenset()
    clock: Callable[[], dt.datetime] = utcnow
    publish: Callable[[str, IncidentBroadcast], Awaitable[str]] = field(default=actions.publish_broadcast)

    @property
    def tz(self) -> ZoneInfo:
        return self.calendar.tz

    def render(
        self, request: Request, user: ConsoleUser, template: str, *, status: int = 200, **context: Any
    ) -> HTMLResponse:
        """A page in the user's language, with the helpers every page of this module uses."""
        lang = user.language

        def local(moment: dt.datetime | None, fmt: str = "%d/%m %H:%M") -> str:
            return "" if moment is None else moment.astimezone(self.tz).strftime(fmt)

        return render_page(
            request,
            template,
            user=user,
            status=status,
            local=local,
            category_name=lambda code: self.category_name(code, lang),
            assignee_name=self.assignee_name,
            figure=lambda expected: figure(expected, lang),
            held_back=lambda alert: held_back(alert, lang),
            quote=lambda text: quote(text, safe=""),
            **context,
        )

    def category_name(self, code: str, lang: str) -> str:
        """The catalogue's name in the user's language (Dutch where it has none); the code if unknown."""
        known = self.catalogue.category(code)
        return code if known is None else known.name(lang)

    def assignee_name(self, code: str) -> str:
        try:
            return self.catalogue.assignee(code).name
        except (KeyError, ValueError):
            return code

    def audit(self, request: Request, user: ConsoleUser, action: str, target: str, **detail: Any) -> actions.Record:
        """The audit row of an action, written in the action's own transaction."""

        async def record(session: AsyncSession) -> None:
            await audit(session, user, action, target, detail or None, request=request)

        return record

    async def audited(self, request: Request, user: ConsoleUser, action: str, target: str, **detail: Any) -> None:
        """The audit row of an action that has no transaction of its own (a message published)."""
        async with self.sessions() as session, session.begin():
            await audit(session, user, action, target, detail or None, request=request)


def figure(expected: float, language: str = "en") -> str:
    """An expectation as people read it: 0.03, 0.4, 2.5, 12 (0,03 and 2,5 in Dutch and French)."""
    if expected >= 10:
        return f"{expected:.0f}"
    text = f"{expected:.2f}" if expected < 0.1 else f"{expected:.1f}"
    return text if language == "en" else text.replace(".", ",")


# The spikes consumer's reasons for holding an alert back are the command's English (`hub alerts list`); a silence's
# is "silenced by <id> until <time>: <the team's own reason>" (consumers.spikes.lifecycle).
_SILENCED = re.compile(r"silenced by (?P<silence>\S+) until \S+: (?P<reason>.*)", re.S)
_INHIBITED = re.compile(r"street (?P<street>.+) inhibited by district alert ")


def held_back(alert: AlertEvent, language: str) -> str:
    """Why an alert was held back, in the page's language."""
    kind, reason = alert.kind, alert.reason or ""
    inhibited = _INHIBITED.match(reason)
    if kind == "suppressed-street" and inhibited:
        return translate(language, "comms.held.street", street=inhibited["street"])
    if kind == "suppressed-resolve":
        return translate(language, "comms.held.resolve")
    silenced = _SILENCED.match(reason)
    if silenced:
        return translate(language, "comms.held.silence", **silenced.groupdict())
    return reason


Console = Annotated[CommsConsole, Depends(service(CommsConsole))]
CommsUser = Annotated[ConsoleUser, Depends(require_roles("comms"))]
AgentUser = Annotated[ConsoleUser, Depends(require_roles("agent", "comms"))]
Checked = Annotated[Form, Depends(check_csrf)]

router = APIRouter(tags=["console"], include_in_schema=False)


def see_other(url: str, **query: str) -> RedirectResponse:
    return RedirectResponse(f"{url}?{urlencode(query)}" if query else url, status_code=303)


def incident_path(incident_id: str) -> str:
    return f"{COMMS}/incidents/{quote(incident_id, safe='')}"


# --------------------------------------------------------------------------------------------------
# Live incidents


@router.get(f"{COMMS}/", response_class=HTMLResponse)
async def live(request: Request, console: Console, user: CommsUser) -> Response:
    async with console.sessions() as session:
        view = await board(session, console.config, now=console.clock())
    return console.render(request, user, "comms/live.html", view=view, tab="live")


def _drafts_after(console: CommsConsole, alert: Alert | None, edits: Mapping[str, IncidentDraft]) -> dict[str, Draft]:
    """Drafts of an incident no longer live: the last alert's texts (French rendered from its fields), with edits."""
    generated: dict[str, str | None] = dict.fromkeys(LANGUAGES)
    if alert is not None and alert.body:
        sent = SpikeDetected.model_validate_json(alert.body)
        fr = render_drafts(
            console.config,
            category=sent.category,
            district=sent.district,
            streets=[sent.street] if sent.street else [],
            fraction=sent.waste_fraction,
            assignees=sent.assignees_notified,
        ).fr
        generated = {"nl": sent.draft_nl, "en": sent.draft_en, "fr": fr}
    out: dict[str, Draft] = {}
    for lang in LANGUAGES:
        e = edits.get(lang)
        out[lang] = (
            Draft(lang, generated[lang])
            if e is None
            else Draft(lang, generated[lang], e.text, e.edited_by, e.edited_at.astimezone(dt.UTC))
        )
    return out


async def _last_sent(session: AsyncSession, incident_id: str) -> Alert | None:
    return (
        await session.execute(
            select(Alert)
            .where(Alert.incident_id == incident_id, Alert.kind.in_(("detected", "update")), Alert.body.is_not(None))
            .order_by(Alert.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


def _timeline_span(live_incident: LiveIncident | None, console: CommsConsole) -> TimelineParams:
    """A live incident's chart ends half an hour past now (the hours after it are still empty); a past one shows
    the statistics' default span (4 hours after the alert, or past its resolution)."""
    if live_incident is None:
        return TimelineParams()
    since = (console.clock() - live_incident.incident.detected_at).total_seconds() / 60
    return TimelineParams(after_minutes=int(min(24 * 60, max(60, since + 30))))


def _timeline_markup(console: CommsConsole, timeline: TimelineOut | None, t: Callable[[str], str]) -> str:
    if timeline is None:
        return ""
    return timeline_svg(
        [Step(b.start, b.calls, b.reports) for b in timeline.buckets],
        step_minutes=timeline.step_minutes,
        marks={"alert": timeline.alert_at, "broadcast": timeline.broadcast_at, "resolved": timeline.resolved_at},
        labels={
            key: t(f"comms.timeline.{key}") for key in ("title", "calls", "reports", "alert", "broadcast", "resolved")
        },
        tz=console.tz,
    )


async def _incident_page(
    request: Request,
    console: CommsConsole,
    user: ConsoleUser,
    incident_id: str,
    *,
    status: int = 200,
    ok: str | None = None,
    posted: list[str] | None = None,
    error: str | None = None,
) -> Response:
    async with console.sessions() as session:
        view = await board(session, console.config, now=console.clock())
        live_incident = view.find(incident_id)
        events = await incident_alerts(session, incident_id)
        timeline = await console.stats.timeline(session, incident_id, _timeline_span(live_incident, console))
        if live_incident is not None:
            drafts = live_incident.drafts
        else:
            edits = {e.lang: e for e in await drafts_of(session, incident_id)}
            drafts = _drafts_after(console, await _last_sent(session, incident_id), edits)
    if live_incident is None and not events and timeline is None:
        return console.render(request, user, "comms/unknown.html", status=404, tab="live", incident_id=incident_id)
    svg = _timeline_markup(console, timeline, lambda key: translate(user.language, key))
    return console.render(
        request,
        user,
        "comms/incident.html",
        status=status,
        tab="live",
        incident_id=incident_id,
        live=live_incident,
        drafts=drafts,
        events=events,
        stat=None if timeline is None else timeline.incident,
        svg=svg,
        channels=[c.value for c in BroadcastChannel],
        draft_languages=LANGUAGES,
        ok=ok,
        posted=posted,
        error=error,
    )


@router.get(f"{COMMS}/incidents/{{incident_id}}", response_class=HTMLResponse)
async def incident_page(
    request: Request,
    console: Console,
    user: CommsUser,
    incident_id: str,
    ok: Annotated[str | None, Query(max_length=20)] = None,
    channels: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    posted = None
    if ok == "posted" and channels:
        known = {c.value for c in BroadcastChannel}
        posted = [c for c in channels.split(",") if c in known]
    return await _incident_page(request, console, user, incident_id[:MAX_ID], ok=ok, posted=posted)


@router.post(f"{COMMS}/incidents/{{incident_id}}/drafts/{{lang}}")
async def save_draft(
    request: Request, console: Console, user: CommsUser, form: Checked, incident_id: str, lang: str
) -> Response:
    text = form.get("text", "")
    record = console.audit(request, user, "incident.draft", incident_id, lang=lang, chars=len(text.strip()))
    try:
        await actions.save_draft(
            console.sessions, incident_id, lang, text, edited_by=user.name, now=console.clock(), record=record
        )
    except (actions.DraftError, SilenceError) as exc:
        return await _incident_page(request, console, user, incident_id, status=400, error=refused(exc, user.language))
    return see_other(incident_path(incident_id), ok="draft")


@router.post(f"{COMMS}/incidents/{{incident_id}}/posted")
async def posted(request: Request, console: Console, user: CommsUser, form: Checked, incident_id: str) -> Response:
    # One field per channel (`channel.website`, ...): a form is read one value per name.
    chosen = [c.value for c in BroadcastChannel if form.get(f"channel.{c.value}")]
    now = console.clock()
    try:
        if not chosen:
            raise ValueError(translate(user.language, "comms.posted.choose"))
        channels = [BroadcastChannel(c) for c in chosen]
        at = form.get("at", "").strip()
        when = now if not at else dt.datetime.fromisoformat(at).replace(tzinfo=console.tz)
        if when > now + dt.timedelta(minutes=5):
            raise Refusal("the broadcast time is in the future", "broadcast_future")
        await actions.incident_scope(console.sessions, incident_id)  # a typo never reaches the broker
        broadcast = IncidentBroadcast(incident_id=incident_id, broadcast_at=when, channels=channels)
    except (ValueError, SilenceError) as exc:
        return await _incident_page(request, console, user, incident_id, status=400, error=refused(exc, user.language))
    try:
        event_id = await console.publish(console.amqp_url, broadcast)
    except Exception as exc:
        message = translate(user.language, "comms.posted.failed", error=describe(exc))
        return await _incident_page(request, console, user, incident_id, status=503, error=message)
    await console.audited(
        request, user, "incident.posted", incident_id, channels=chosen, at=when.isoformat(), event=event_id
    )
    return see_other(incident_path(incident_id), ok="posted", channels=",".join(chosen))


# --------------------------------------------------------------------------------------------------
# History


@router.get(f"{COMMS}/history", response_class=HTMLResponse)
async def history(
    request: Request,
    console: Console,
    user: CommsUser,
    date_from: Annotated[dt.date | None, Query(alias="from")] = None,
    date_to: Annotated[dt.date | None, Query(alias="to")] = None,
) -> Response:
    today = console.clock().astimezone(console.tz).date()
    last = min(date_to or today, today)
    first = date_from or (last - dt.timedelta(days=HISTORY_DAYS))
    error = None
    if first > last or (last - first).days > 366:
        error, first = translate(user.language, "comms.history.bad_period"), last - dt.timedelta(days=HISTORY_DAYS)
    async with console.sessions() as session:
        found = await queries.incidents(session, queries.Period(first, last), console.tz)
        rows = [(i, await console.stats.notice(session, i)) for i in reversed(found)]
        # An incident still live has its totals only when resolved: its counts so far, as the live page shows them.
        view = await board(session, console.config, now=console.clock())
    so_far = {i.incident_id: (i.incident.total_calls, i.incident.total_reports) for i in view.incidents}
    return console.render(
        request,
        user,
        "comms/history.html",
        tab="history",
        rows=rows,
        so_far=so_far,
        first=first,
        last=last,
        error=error,
    )


# --------------------------------------------------------------------------------------------------
# The agents


@router.get(f"{AGENT}/", response_class=HTMLResponse)
async def now_page(request: Request, console: Console, user: AgentUser) -> Response:
    async with console.sessions() as session:
        view = await board(session, console.config, now=console.clock())
        posted: set[str] = set()
        if view.incidents:
            rows = await session.execute(
                select(StatIncident.incident_id).where(
                    StatIncident.incident_id.in_([i.incident_id for i in view.incidents]),
                    StatIncident.broadcast_at.is_not(None),
                )
            )
            posted = set(rows.scalars())

    def sentence(live_incident: LiveIncident, lang: str) -> str:
        return caller_sentence(live_incident, lang, posted=live_incident.incident_id in posted)

    return console.render(
        request, user, "comms/now.html", tab="now", view=view, sentence=sentence, draft_languages=LANGUAGES
    )


@router.get(f"{AGENT}/lookup", response_class=HTMLResponse)
async def lookup_page(
    request: Request,
    console: Console,
    user: AgentUser,
    q: Annotated[str, Query(max_length=MAX_QUERY_CHARS * 2)] = "",
) -> Response:
    may_see = bool(user.roles & console.contact_roles)
    cases = []
    error = None
    if q.strip():
        try:
            async with console.sessions() as session:
                cases = await lookup(session, q, may_see_contact=may_see)
        except QueryRefused as exc:
            error = refused(exc, user.language)
    if may_see and cases:
        # Who saw whose contact data: the audit trail names the reports, never the data.
        await console.audited(
            request, user, "lookup.contact", ",".join(c.report_id for c in cases)[:300], query_chars=len(q)
        )
    return console.render(
        request,
        user,
        "comms/lookup.html",
        status=400 if error else 200,
        tab="lookup",
        q=q,
        cases=cases,
        error=error,
        may_see=may_see,
        today=console.clock().astimezone(console.tz).date(),
    )

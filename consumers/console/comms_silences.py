"""The communication team's silences page (issue 15), under `/console/comms/silences`.

  GET  /console/comms/silences               silences in force; a new one for a live incident or a key, with the
                                             preview of the live incidents it matches and its end
  POST /console/comms/silences               make it (consumers.spikes.actions.create_silence)
  POST /console/comms/silences/{id}/expire   end it (consumers.spikes.actions.cancel_silence)

The console, its roles and its CSRF check are consumers.console.comms's; every action goes to the audit trail in
its own transaction, as there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from consumers.console.auth import ConsoleUser
from consumers.console.comms import COMMS, MAX_ID, Checked, CommsConsole, CommsUser, Console, see_other
from consumers.console.i18n import translate
from consumers.console.refusals import refused
from consumers.spikes import actions
from consumers.spikes.board import LiveIncident, board
from consumers.spikes.board import matching as silence_matches
from consumers.spikes.silences import Scope, SilenceError, parse_duration, scope_of

DURATIONS = ("1h", "2h", "4h", "8h", "1d", "2d", "7d")

router = APIRouter(tags=["console"], include_in_schema=False)


def describe_scope(console: CommsConsole, scope: Scope, lang: str) -> str:
    """What a silence matches, for the page (the audit trail keeps `Scope.describe()`, the CLI's English)."""
    parts = [
        console.category_name(scope.category, lang) if scope.category else translate(lang, "comms.scope.any_category"),
        translate(lang, "comms.scope.district", district=scope.district)
        if scope.district
        else translate(lang, "comms.scope.any_district"),
    ]
    if scope.street:
        parts.append(translate(lang, "comms.scope.street", street=scope.street))
    return ", ".join(parts)


@dataclass(frozen=True)
class SilenceForm:
    incident: str = ""
    key: str = ""
    duration: str = "4h"
    until: str = ""
    reason: str = ""

    @classmethod
    def of(cls, values: Mapping[str, str]) -> SilenceForm:
        return cls(
            values.get("incident", "").strip()[:MAX_ID],
            values.get("key", "").strip()[:400],
            values.get("duration", "4h").strip()[:20] or "4h",
            values.get("until", "").strip()[:20],
            values.get("reason", "")[: actions.MAX_REASON_CHARS + 1],
        )


async def _scope(console: CommsConsole, form: SilenceForm) -> Scope:
    if form.incident and form.key:
        raise SilenceError("give an incident or a key, not both", "incident_and_key")
    if form.incident:
        return await actions.incident_scope(console.sessions, form.incident)
    if form.key:
        return scope_of(key=form.key)
    raise SilenceError("give an incident or a key", "no_target")


def _ends_at(console: CommsConsole, form: SilenceForm, now: dt.datetime) -> dt.datetime:
    if form.until:
        return dt.datetime.fromisoformat(form.until).replace(tzinfo=console.tz)
    return now + parse_duration(form.duration)


async def _silences_page(
    request: Request,
    console: CommsConsole,
    user: ConsoleUser,
    form: SilenceForm,
    *,
    preview: bool,
    status: int = 200,
    ok: str | None = None,
    done_id: str | None = None,
    error: str | None = None,
) -> Response:
    now = console.clock()
    async with console.sessions() as session:
        view = await board(session, console.config, now=now)
    scope = ends = None
    matches: list[LiveIncident] = []
    if preview:
        try:
            scope = await _scope(console, form)
            ends = _ends_at(console, form, now)
            matches = silence_matches(scope, view.incidents)
        except (SilenceError, ValueError) as exc:
            scope, error, status = None, refused(exc, user.language), 400
    return console.render(
        request,
        user,
        "comms/silences.html",
        status=status,
        tab="silences",
        view=view,
        form=form,
        durations=DURATIONS,
        scope=scope,
        matches=matches,
        ends=ends,
        error=error,
        ok=ok,
        done_id=done_id,
        describe_scope=lambda s: describe_scope(console, Scope(s.category, s.district, s.street), user.language),
    )


@router.get(f"{COMMS}/silences", response_class=HTMLResponse)
async def silences(
    request: Request,
    console: Console,
    user: CommsUser,
    preview: Annotated[str, Query(max_length=5)] = "",
    ok: Annotated[str | None, Query(max_length=20)] = None,
    id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    form = SilenceForm.of(request.query_params)
    return await _silences_page(request, console, user, form, preview=bool(preview), ok=ok, done_id=id)


@router.post(f"{COMMS}/silences")
async def create_silence(request: Request, console: Console, user: CommsUser, values: Checked) -> Response:
    form = SilenceForm.of(values)
    if values.get("action") == "preview":
        return await _silences_page(request, console, user, form, preview=True)
    now = console.clock()
    try:
        scope = await _scope(console, form)
        ends = _ends_at(console, form, now)
        record = console.audit(
            request, user, "silence.create", form.incident or form.key, scope=scope.describe(), ends_at=ends.isoformat()
        )
        silence_id = await actions.create_silence(
            console.sessions, scope, ends_at=ends, reason=form.reason, created_by=user.name, now=now, record=record
        )
    except (SilenceError, ValueError) as exc:
        return await _silences_page(
            request, console, user, form, preview=False, status=400, error=refused(exc, user.language)
        )
    return see_other(f"{COMMS}/silences", ok="created", id=silence_id)


@router.post(f"{COMMS}/silences/{{silence_id}}/expire")
async def expire_silence(request: Request, console: Console, user: CommsUser, _: Checked, silence_id: str) -> Response:
    record = console.audit(request, user, "silence.expire", silence_id)
    if not await actions.cancel_silence(console.sessions, silence_id[:64], console.clock(), record=record):
        return await _silences_page(
            request, console, user, SilenceForm(), preview=False, status=404, ok="not_found", done_id=silence_id[:64]
        )
    return see_other(f"{COMMS}/silences", ok="expired", id=silence_id)

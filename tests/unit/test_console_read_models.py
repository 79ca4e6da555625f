"""The read models behind the console's pages: the team's board of live incidents, the silence preview, the
agents' sentence for callers and the lookup of a report or work order (on in-memory SQLite, fed through the
real handlers)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from consumers.console.refusals import refused
from consumers.router.handler import RoutingService
from consumers.router.lookup import MIN_STREET_CHARS, REDACTED, QueryRefused, lookup
from consumers.router.tables import WorkOrder
from consumers.spikes import actions
from consumers.spikes.board import board, caller_sentence, incident_alerts, matching
from consumers.spikes.config import load_spike_config
from consumers.spikes.handler import SpikesService
from consumers.spikes.silences import Scope, SilenceError, scope_of
from contracts import ReportFiled, WorkOrderIssued
from hub.bootstrap import Domain
from hub.settings import Settings
from tests.handler_env import NOW, HandlerEnv

pytestmark = pytest.mark.unit

SETTINGS = Settings()
DOMAIN = Domain.load(SETTINGS)
CONFIG = load_spike_config(SETTINGS.spikes.file, timezone=DOMAIN.calendar.timezone)
SPIKES = SpikesService(CONFIG, DOMAIN.catalogue, DOMAIN.calendar, clock=lambda: NOW)
ROUTER = RoutingService(DOMAIN.catalogue, DOMAIN.rules, DOMAIN.calendar, clock=lambda: NOW)
WASTE = "waste.missed_collection"


def report(n: int, *, street: str = "Stapelstraat", minutes: int = 0, **changes: Any) -> ReportFiled:
    filed = NOW - dt.timedelta(minutes=40) + dt.timedelta(minutes=minutes)
    data: dict[str, Any] = {
        "report_id": f"rep-b-{n:03d}",
        "filed_at": filed.isoformat(),
        "channel": "web",
        "category": WASTE,
        "waste_fraction": "residual",
        "location": {"street": street, "house_number": str(n), "postcode": "3800", "district": "Brustem"},
        "description": f"Restafval niet opgehaald. Bel me op 0470 12 34 {n:02d}.",
        "reporter": {"name": "Jan Peeters", "phone": "0470123456", "email": "jan@example.be"},
    }
    return ReportFiled.model_validate(data | changes)


async def a_spike(env: HandlerEnv, n: int = 8) -> None:
    """Reports of one missed round, each routed (a work order) and counted by the spikes consumer."""
    for i in range(n):
        r = report(i, minutes=3 * i)
        out = await env.handle(ROUTER.apply, r, f"m-route-{i}")
        for _, body in out.emitted:
            if "work_order_id" in body:
                await env.handle(SPIKES.apply_workorder, WorkOrderIssued.model_validate(body))
        await env.handle(SPIKES.apply_report, r, f"m-spike-{i}")


async def test_the_board_shows_a_live_incident_with_its_counts_contacts_assignees_and_three_drafts(
    handler_env: HandlerEnv,
) -> None:
    await a_spike(handler_env)
    async with handler_env.sessions() as session:
        view = await board(session, CONFIG, now=NOW)
    (live,) = view.incidents
    i = live.incident
    assert (i.category, i.district) == (WASTE, "Brustem")
    assert i.total_reports == 8
    assert i.observed >= 8
    assert i.expected < 1
    assert live.ratio is not None
    assert live.ratio > 8
    assert live.streets[0] == "Stapelstraat"
    assert live.first_contact == NOW - dt.timedelta(minutes=40)
    assert live.last_contact == NOW - dt.timedelta(minutes=40 - 21)
    assert live.assignees == ("waste_company",)
    assert live.fraction == "residual"
    assert live.announced
    assert live.silenced_by is None
    assert live.drafts["nl"].text.startswith("Het restafval in de Stapelstraat (Brustem) werd vandaag niet opgehaald")
    assert live.drafts["en"].text.endswith("The waste company has been informed.")
    assert live.drafts["fr"].text.endswith("L'intercommunale des déchets est au courant.")
    assert "Jan" not in repr(live)
    assert "0470" not in repr(live)
    events = await incident_alerts(session, i.incident_id)
    assert next(e.kind for e in events) == "detected"  # then the street it inhibits, recorded


async def test_an_edited_draft_replaces_its_language_and_keeps_the_generated_text(handler_env: HandlerEnv) -> None:
    await a_spike(handler_env)
    async with handler_env.sessions() as session:
        (live,) = (await board(session, CONFIG, now=NOW)).incidents
    generated = live.drafts["fr"].text
    await actions.save_draft(
        handler_env.sessions, live.incident_id, "fr", " Collecte reportée à demain. ", edited_by="an", now=NOW
    )
    async with handler_env.sessions() as session:
        (live,) = (await board(session, CONFIG, now=NOW)).incidents
    assert live.drafts["fr"].text == "Collecte reportée à demain."
    assert live.drafts["fr"].generated == generated
    assert (live.drafts["fr"].edited_by, live.drafts["fr"].edited_at) == ("an", NOW)
    assert live.drafts["nl"].edited is None
    # The agents tell callers the team's text.
    assert caller_sentence(live, "fr") == "Nous sommes au courant : Collecte reportée à demain."
    assert caller_sentence(live, "nl", posted=True) == (
        "We zijn op de hoogte: het restafval in de Stapelstraat (Brustem) werd vandaag niet opgehaald. "
        "De afvalintercommunale is verwittigd. Meer informatie staat op de website van de stad."
    )
    # Emptied: back to the generated text. Unknown incidents and languages are refused.
    await actions.save_draft(handler_env.sessions, live.incident_id, "fr", "", edited_by="an", now=NOW)
    async with handler_env.sessions() as session:
        (live,) = (await board(session, CONFIG, now=NOW)).incidents
    assert live.drafts["fr"].text == generated
    with pytest.raises(actions.DraftError):
        await actions.save_draft(handler_env.sessions, live.incident_id, "de", "x", edited_by="an", now=NOW)
    with pytest.raises(actions.DraftError) as too_long:
        await actions.save_draft(handler_env.sessions, live.incident_id, "nl", "x" * 2001, edited_by="an", now=NOW)
    with pytest.raises(SilenceError, match="no alert recorded") as typo:
        await actions.save_draft(handler_env.sessions, "inc-typo", "nl", "x", edited_by="an", now=NOW)
    # The page says it in the user's language; the command line keeps the English.
    assert refused(too_long.value, "nl") == f"een tekst is hoogstens {actions.MAX_DRAFT_CHARS} tekens lang"
    assert refused(typo.value, "fr") == "aucune alerte connue pour l'incident inc-typo"
    assert refused(ValueError("something else"), "nl") == "something else"


async def test_a_silence_preview_lists_the_live_incidents_it_would_hold_back(handler_env: HandlerEnv) -> None:
    await a_spike(handler_env)
    async with handler_env.sessions() as session:
        view = await board(session, CONFIG, now=NOW)
    assert [i.incident_id for i in matching(scope_of(category=WASTE), view.incidents)] == [
        view.incidents[0].incident_id
    ]
    assert matching(scope_of(key=f"{WASTE}|district:Brustem"), view.incidents) == view.incidents
    assert matching(scope_of(district="Velm"), view.incidents) == []
    assert matching(Scope(WASTE, "Brustem", "Kerkstraat"), view.incidents) == []
    # Made: the board says which silence holds the incident back; expired: it no longer does.
    silence_id = await actions.create_silence(
        handler_env.sessions,
        scope_of(category=WASTE, district="Brustem"),
        ends_at=NOW + dt.timedelta(hours=2),
        reason="ophaling morgen",
        created_by="an",
        now=NOW,
    )
    async with handler_env.sessions() as session:
        view = await board(session, CONFIG, now=NOW)
    assert view.incidents[0].silenced_by == silence_id
    assert [s.silence_id for s in view.silences] == [silence_id]
    assert await actions.cancel_silence(handler_env.sessions, silence_id, NOW)
    assert not await actions.cancel_silence(handler_env.sessions, silence_id, NOW)
    async with handler_env.sessions() as session:
        view = await board(session, CONFIG, now=NOW)
    assert view.incidents[0].silenced_by is None
    assert view.silences == []
    with pytest.raises(SilenceError, match="in the past"):
        await actions.create_silence(
            handler_env.sessions, scope_of(district="Velm"), ends_at=NOW, reason="x", created_by="an", now=NOW
        )
    with pytest.raises(SilenceError, match="reason"):
        await actions.create_silence(
            handler_env.sessions, scope_of(district="Velm"), ends_at=NOW + dt.timedelta(hours=1), reason=" ",
            created_by="an", now=NOW,
        )  # fmt: skip


async def test_an_agent_finds_a_report_by_id_work_order_or_street_with_status_and_due_date(
    handler_env: HandlerEnv,
) -> None:
    for i in range(3):
        r = report(i, street="Stapelstraat" if i < 2 else "Kerkstraat", minutes=i)
        await handler_env.handle(ROUTER.apply, r, f"m-{i}")
    async with handler_env.sessions() as session:
        order = (await session.execute(select(WorkOrder).where(WorkOrder.report_id == "rep-b-001"))).scalar_one()
        by_street = await lookup(session, "  stapel ", may_see_contact=False)
        by_id = await lookup(session, "rep-b-002", may_see_contact=False)
        by_order = await lookup(session, order.work_order_id, may_see_contact=True)
        nothing = await lookup(session, "Nergensstraat", may_see_contact=False)
    assert [c.report_id for c in by_street] == ["rep-b-001", "rep-b-000"]  # newest first
    assert [c.report_id for c in by_id] == ["rep-b-002"]
    assert nothing == []
    masked = by_street[0]
    assert masked.status == "routed"
    assert [(o.assignee, o.status, o.due_date) for o in masked.orders] == [("waste_company", "issued", order.due_date)]
    assert masked.due_date == order.due_date
    assert (masked.reporter_name, masked.reporter_phone, masked.reporter_email, masked.contact_shown) == (
        None,
        None,
        None,
        False,
    )
    assert "0470" not in masked.description
    assert REDACTED in masked.description
    (shown,) = by_order
    assert shown.report_id == "rep-b-001"
    assert (shown.reporter_name, shown.reporter_phone, shown.contact_shown) == ("Jan Peeters", "0470123456", True)
    assert "0470 12 34 01" in shown.description


async def test_a_lookup_is_bounded_and_never_a_pattern(handler_env: HandlerEnv) -> None:
    await handler_env.handle(ROUTER.apply, report(1), "m-1")
    async with handler_env.sessions() as session:
        with pytest.raises(QueryRefused):
            await lookup(session, "x" * 101, may_see_contact=False)
        with pytest.raises(QueryRefused) as short:
            await lookup(session, "st", may_see_contact=False)
        assert refused(short.value, "nl") == f"geef een nummer, of minstens {MIN_STREET_CHARS} letters van een straat"
        assert await lookup(session, "%%%", may_see_contact=False) == []
        assert await lookup(session, "___", may_see_contact=False) == []
        assert await lookup(session, "", may_see_contact=False) == []

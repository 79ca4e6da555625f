"""The e-mail contractors' one-click answers: `GET|POST /contractors/links/{token}` (an `APIRouter`).

Opening a link (GET) shows a confirmation page and changes nothing: mail scanners follow links. Confirming it
(POST of the page's form, with the date of a plan or the reason of a refusal, and when it happened if not now) applies the change through the
`status` consumer's validated path (`consumers.contractors.onbehalf`): the state machine, exactly once (the
message id is the link and the form's values: a second click is a duplicate), the history saying
`email-link:<assignee>`. A link works only while signed with one of the assignee's secrets, before its expiry,
and for a step the order may still take. Answers: 200 the page, or the change applied; 403 an altered, unknown or
expired link; 409 the step was taken already or is no longer possible (an order merged into an incident order
meanwhile is no error: a page says so, 200); 422 a missing date or reason; 503.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.contractors.links import LABELS, LinkClaim, LinkError, LinkSigner
from consumers.contractors.onbehalf import OnBehalf, Outcome, filed_at, find_order
from consumers.contractors.rules import ALLOWED, Sender
from consumers.contractors.settings import ContractorsSettings
from consumers.router.incident_records import merged_into
from contracts import WorkOrderStatus, WorkOrderStatusChanged
from infra.clock import utcnow
from infra.errors import PermanentError, is_transient
from infra.http.body import BodyTooLarge, LengthRequired, announced_length, read_body
from infra.http.deps import service

log = logging.getLogger("hub.contractors.links")

MAX_FORM = 8 * 1024
S = WorkOrderStatus
DUTCH = {
    S.ISSUED: "uitgegeven",
    S.ACCEPTED: "aanvaard",
    S.PLANNED: "ingepland",
    S.IN_PROGRESS: "in uitvoering",
    S.DONE: "afgerond",
    S.REJECTED: "geweigerd",
}


def link_signer(settings: ContractorsSettings) -> LinkSigner:
    return LinkSigner(
        settings.contractor_link_secrets,
        settings.public_url,
        dt.timedelta(days=settings.contractor_link_ttl_days),
    )


def _page(status: int, title: str, *paragraphs: str, form: str = "") -> HTMLResponse:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return HTMLResponse(
        f'<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body><h1>{html.escape(title)}</h1>{body}{form}</body></html>",
        status_code=status,
    )


WHEN = '<p><label>Wanneer (leeg: nu) <input type="datetime-local" name="changed_at"></label></p>'
# How far ahead of the hub's clock a given time may be (a contractor's clock that runs a little fast).
MAX_AHEAD = dt.timedelta(minutes=5)


def _form(step: WorkOrderStatus) -> str:
    fields = ""
    if step == S.PLANNED:
        fields = '<p><label>Gepland voor <input type="date" name="planned_for" required></label></p>'
    elif step == S.REJECTED:
        fields = '<p><label>Reden <textarea name="reason" required maxlength="1000"></textarea></label></p>'
    fields += WHEN
    return f'<form method="post">{fields}<p><button type="submit">Bevestigen: {html.escape(LABELS[step])}</button></p></form>'


@dataclass
class LinkAnswers:
    signer: LinkSigner
    on_behalf: OnBehalf
    sessions: async_sessionmaker[AsyncSession]
    clock: Callable[[], dt.datetime] = field(default=utcnow)
    timezone: ZoneInfo = field(default=ZoneInfo("Europe/Brussels"))

    async def _claim(self, token: str) -> LinkClaim | HTMLResponse:
        try:
            return self.signer.verify(token, self.clock())
        except LinkError as exc:
            expired = "expired" in str(exc)
            return _page(403, "Link verlopen" if expired else "Ongeldige link",
                         "Deze link is verlopen." if expired else "Deze link is ongeldig of aangepast.",
                         "Vraag de stad een nieuwe link, of antwoord op de e-mail.")  # fmt: skip

    async def _not_possible(self, claim: LinkClaim) -> HTMLResponse | None:
        """The page that says why the step cannot be taken (any more), or None if it can."""
        async with self.sessions() as session:
            order = await find_order(session, claim.work_order_id)
        if order is None or order.assignee != claim.assignee:
            return _page(404, "Onbekende werkbon", f"Werkbon {claim.work_order_id} is niet gekend.")
        if order.status == "merged":
            # Merged into an incident order after the e-mail went out: nothing to do on this one, and no error.
            async with self.sessions() as session:
                into = await merged_into(session, order.work_order_id)
            return _page(
                200,
                "Opgenomen in een incidentwerkbon",
                f"Werkbon {order.work_order_id} is samengevoegd met incidentwerkbon {into or ''}: de stad volgt het "
                "werk daar op. Er is niets veranderd; meld de voortgang op de incidentwerkbon.",
            )
        current = S(order.status)
        if current == claim.status and current != S.PLANNED:
            return _page(
                409, "Al gebeurd", f"Werkbon {order.work_order_id} is al {DUTCH[current]}. Er is niets veranderd."
            )
        if claim.status not in ALLOWED[current]:
            return _page(409, "Niet meer mogelijk",
                         f"Werkbon {order.work_order_id} is {DUTCH[current]}: "
                         f"'{LABELS[claim.status]}' kan niet meer. Er is niets veranderd.")  # fmt: skip
        return None

    async def _when(self, claim: LinkClaim, given: str) -> dt.datetime | HTMLResponse:
        """When the step happened: now, or the time the form gives (city time without an offset), which may not
        lie ahead of the hub's clock nor before the report was filed: the figures count the change's own time, as
        they do for the broker and the callback."""
        now = self.clock()
        if not given:
            return now
        try:
            at = dt.datetime.fromisoformat(given)
        except ValueError:
            return _page(422, "Tijdstip ongeldig", "Geef het tijdstip als JJJJ-MM-DDTUU:MM.", form=_form(claim.status))
        if at.tzinfo is None:
            at = at.replace(tzinfo=self.timezone)
        async with self.sessions() as session:
            filed = await filed_at(session, claim.work_order_id)
        if at > now + MAX_AHEAD or (filed is not None and at < filed):
            return _page(422, "Tijdstip ongeldig", "Het tijdstip ligt in de toekomst of voor de melding.",
                         form=_form(claim.status))  # fmt: skip
        return at

    async def show(self, token: str) -> HTMLResponse:
        claim = await self._claim(token)
        if isinstance(claim, HTMLResponse):
            return claim
        refusal = await self._not_possible(claim)
        if refusal is not None:
            return refusal
        return _page(
            200,
            f"Werkbon {claim.work_order_id}: {LABELS[claim.status]}",
            "Bevestig deze stap voor de werkbon. Er verandert niets voor u bevestigt.",
            form=_form(claim.status),
        )

    async def confirm(self, token: str, request: Request) -> HTMLResponse:
        """Long because it reads the form, builds the change and explains each outcome in one place."""
        claim = await self._claim(token)
        if isinstance(claim, HTMLResponse):
            return claim
        try:
            announced_length(request, MAX_FORM)
            body = await read_body(request, MAX_FORM)
        except (LengthRequired, BodyTooLarge):
            return _page(413, "Te groot", f"Het formulier mag hoogstens {MAX_FORM} bytes zijn.")
        form = {k: v[0].strip() for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v}
        planned_for = None
        if claim.status == S.PLANNED:
            try:
                planned_for = dt.date.fromisoformat(form.get("planned_for", ""))
            except ValueError:
                return _page(
                    422, "Datum nodig", "Geef de datum waarvoor de werken gepland zijn.", form=_form(S.PLANNED)
                )
        reason = form.get("reason") if claim.status == S.REJECTED else None
        if claim.status == S.REJECTED and not reason:
            return _page(422, "Reden nodig", "Geef de reden van de weigering.", form=_form(S.REJECTED))
        changed_at = await self._when(claim, form.get("changed_at", ""))
        if isinstance(changed_at, HTMLResponse):
            return changed_at
        change = WorkOrderStatusChanged(
            work_order_id=claim.work_order_id,
            assignee=claim.assignee,
            status=claim.status,
            changed_at=changed_at,
            planned_for=planned_for,
            reason=reason[:1000] if reason else None,
        )
        message_id = "link-" + hashlib.sha256(f"{token}|{planned_for}|{reason}|{changed_at}".encode()).hexdigest()[:40]
        try:
            outcome = await self.on_behalf.apply(change, Sender.link(claim.assignee), message_id)
        except PermanentError as exc:
            log.info("link refused", extra={"work_order_id": claim.work_order_id, "error": str(exc)})
            outcome = Outcome.UNCHANGED
        except Exception as exc:
            if not is_transient(exc):
                raise
            return _page(503, "Even niet beschikbaar", "Probeer het over enkele minuten opnieuw.")
        if outcome == Outcome.APPLIED:
            return _page(200, "Bedankt", f"Werkbon {claim.work_order_id} is nu {DUTCH[claim.status]}.")
        refusal = await self._not_possible(claim)
        return refusal or _page(409, "Al gebeurd", f"Werkbon {claim.work_order_id}: er is niets veranderd.")


Answers = Annotated[LinkAnswers, Depends(service(LinkAnswers))]

router = APIRouter(tags=["contractors"])
PATH = "/contractors/links/{token}"


@router.get(PATH, summary="An e-mail contractor's answer link: the confirmation page (changes nothing)",
            response_class=HTMLResponse, description=__doc__)  # fmt: skip
async def show_link(token: str, answers: Answers) -> HTMLResponse:
    return await answers.show(token)


@router.post(PATH, summary="Confirm an e-mail contractor's answer link: apply the status change once",
             response_class=HTMLResponse, description=__doc__)  # fmt: skip
async def confirm_link(token: str, request: Request, answers: Answers) -> HTMLResponse:
    return await answers.confirm(token, request)

"""`/console/ops/`: the operators' pages (role `ops`): dead-letter queues per consumer (reason and headers, the
body with the reporter masked, in full on request and audited; replay one or all; purge after typing the consumer's
name), scheduled deliveries (contractors' webhooks and e-mails, the communication team's alert e-mails and chat
messages: pending and exhausted, endpoints disabled or with an open circuit; replay, enable) and the audit trail.

The same services as the command line: `infra.deadletters.DeadLetterQueue` (`hub dlq`), `consumers.contractors.
operations` (`hub deliveries`) and `infra.sending.reschedule_exhausted`. Every action writes an audit row.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from consumers.console import i18n
from consumers.console.auth import ConsoleUser, Form, audit, check_csrf, require_roles
from consumers.console.tables import ConsoleAudit
from consumers.console.templates import render
from consumers.contractors import operations as deliveries_ops
from consumers.contractors.endpoints import when
from consumers.contractors.tables import Delivery
from consumers.domain.catalogue import Catalogue
from consumers.notifier.tables import AlertNotification
from consumers.privacy.bodies import REPORTER, document
from infra.clock import utcnow
from infra.deadletters import DeadLetter, DeadLetterQueue, render_body
from infra.errors import describe
from infra.http.deps import Session, service
from infra.sending import EXHAUSTED, PENDING, reschedule_exhausted, state_counts

log = logging.getLogger("hub.console")

MASK = "•••"
PEEK_LIMIT = 200


@dataclass
class Operations:
    """What the pages need, built by the composition root."""

    amqp_url: str
    consumers: tuple[str, ...]
    catalogue: Catalogue
    tz: dt.tzinfo
    webhook_secrets: dict[str, list[str]] = field(default_factory=dict)
    smtp_host: str | None = None
    failure_threshold: int = 5

    def queue(self, consumer: str) -> DeadLetterQueue:
        if consumer not in self.consumers:
            raise HTTPException(404, "no such consumer")
        return DeadLetterQueue(self.amqp_url, consumer)


Ops = Annotated[ConsoleUser, Depends(require_roles("ops"))]
Services = Annotated[Operations, Depends(service(Operations))]
router = APIRouter(include_in_schema=False)


def masked_body(body: bytes) -> str:
    """The body as JSON with the reporter's name, phone and e-mail replaced by a mask (top level or in `data`)."""
    doc = document(body)
    if doc is None:
        return "(geen JSON: enkel met 'toon volledig')" if body else ""
    holders = [doc] + ([doc["data"]] if isinstance(doc.get("data"), dict) else [])
    for holder in holders:
        if isinstance(holder.get(REPORTER), dict):
            holder[REPORTER] = {key: MASK for key in holder[REPORTER]}
        for key in ("name", "phone", "email", "reporter_name", "reporter_phone", "reporter_email"):
            if holder.get(key) not in (None, ""):
                holder[key] = MASK
    return json.dumps(doc, indent=2, ensure_ascii=False)


def _headers(letter: DeadLetter) -> list[tuple[str, str]]:
    out = []
    for key, value in sorted(letter.headers.items()):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        out.append((key, text[:2000]))
    return out


def _local(moment: dt.datetime | None, tz: dt.tzinfo) -> str:
    return when(moment, tz)


@router.get("/console/ops/")
async def overview(request: Request, user: Ops, ops: Services, session: Session) -> HTMLResponse:
    queues: list[dict[str, Any]] = []
    for consumer in ops.consumers:
        try:
            count: int | None = await ops.queue(consumer).count()
        except Exception as exc:  # the broker is away: the page still shows the rest
            log.warning("console: dead-letter queue not counted", extra={"error": describe(exc)})
            count = None
        queues.append({"consumer": consumer, "count": count})
    return render(
        request,
        "ops/index.html",
        user=user,
        queues=queues,
        deliveries=await state_counts(session, Delivery),
        notifications=await state_counts(session, AlertNotification),
    )


@router.get("/console/ops/dlq/{consumer}")
async def dead_letters(request: Request, user: Ops, ops: Services, consumer: str) -> HTMLResponse:
    queue = ops.queue(consumer)
    try:
        letters = await queue.peek(limit=PEEK_LIMIT)
    except Exception as exc:  # no broker, or the queue not declared yet (no consumer ever started)
        log.warning("console: dead-letter queue not read", extra={"error": describe(exc)})
        return render(request, "message.html", user=user, status=503, message_key="ops.broker_down")
    return render(
        request,
        "ops/dlq.html",
        user=user,
        consumer=consumer,
        letters=[{"letter": x, "headers": _headers(x), "body": masked_body(x.body)} for x in letters],
        limit=PEEK_LIMIT,
        done=request.query_params.get("done"),
    )


@router.get("/console/ops/dlq/{consumer}/message")
async def dead_letter_body(
    request: Request,
    user: Ops,
    ops: Services,
    session: Session,
    consumer: str,
    message_id: Annotated[str, Query(alias="id", max_length=300)],
) -> HTMLResponse:
    """One message in full, personal data included: only for `ops`, and recorded."""
    for letter in await ops.queue(consumer).peek(limit=PEEK_LIMIT):
        if letter.message_id == message_id:
            await audit(session, user, "dlq.view-body", message_id, {"consumer": consumer}, request=request)
            await session.commit()
            return render(
                request,
                "ops/dlq_message.html",
                user=user,
                consumer=consumer,
                letter=letter,
                header_rows=_headers(letter),
                body=render_body(letter.body),
            )
    raise HTTPException(404, "not in the dead-letter queue (any more)")


@router.post("/console/ops/dlq/{consumer}/replay")
async def replay_dead_letters(
    request: Request,
    user: Ops,
    ops: Services,
    session: Session,
    consumer: str,
    form: Annotated[Form, Depends(check_csrf)],
) -> RedirectResponse:
    message_id = form.get("id") or None
    if message_id is None and form.get("all") != "1":
        raise HTTPException(400, "give id or all")
    n = await ops.queue(consumer).replay(message_id)
    await audit(
        session,
        user,
        "dlq.replay",
        message_id or f"{consumer}:all",
        {"consumer": consumer, "replayed": n},
        request=request,
    )
    await session.commit()
    return RedirectResponse(f"/console/ops/dlq/{consumer}?done=replayed-{n}", status_code=303)


@router.post("/console/ops/dlq/{consumer}/purge")
async def purge_dead_letters(
    request: Request,
    user: Ops,
    ops: Services,
    session: Session,
    consumer: str,
    form: Annotated[Form, Depends(check_csrf)],
) -> Response:
    queue = ops.queue(consumer)
    if form.get("confirm", "").strip() != consumer:
        letters = await queue.peek(limit=PEEK_LIMIT)
        page = render(
            request,
            "ops/dlq.html",
            user=user,
            consumer=consumer,
            letters=[{"letter": x, "headers": _headers(x), "body": masked_body(x.body)} for x in letters],
            limit=PEEK_LIMIT,
            done=None,
            purge_refused=True,
            status=400,
        )
        return page
    n = await queue.purge()
    await audit(session, user, "dlq.purge", f"{consumer}:all", {"consumer": consumer, "purged": n}, request=request)
    await session.commit()
    return RedirectResponse(f"/console/ops/dlq/{consumer}?done=purged-{n}", status_code=303)


@router.get("/console/ops/deliveries")
async def scheduled(request: Request, user: Ops, ops: Services, session: Session) -> HTMLResponse:
    now = utcnow()
    endpoints = await deliveries_ops.endpoints(
        session,
        ops.catalogue,
        webhook_secrets=ops.webhook_secrets,
        smtp_host=ops.smtp_host,
        failure_threshold=ops.failure_threshold,
        now=now,
        tz=ops.tz,
    )
    notifications = {
        state: list(
            (
                await session.execute(
                    select(AlertNotification)
                    .where(AlertNotification.state == state)
                    .order_by(AlertNotification.id.desc())
                    .limit(50)
                )
            ).scalars()
        )
        for state in (PENDING, EXHAUSTED)
    }
    return render(
        request,
        "ops/deliveries.html",
        user=user,
        endpoints=endpoints,
        pending=await deliveries_ops.deliveries(session, state=PENDING),
        exhausted=await deliveries_ops.deliveries(session, state=EXHAUSTED),
        notifications=notifications,
        local=lambda m: _local(m, ops.tz),
        assignee_name=lambda code: a.name if (a := ops.catalogue.assignees.get(code)) else code,
        done=request.query_params.get("done"),
    )


@router.post("/console/ops/deliveries/replay")
async def replay_scheduled(
    request: Request, user: Ops, session: Session, form: Annotated[Form, Depends(check_csrf)]
) -> RedirectResponse:
    kind = form.get("kind", "delivery")
    raw = form.get("id", "")
    row_id = int(raw) if raw.isdigit() else None
    if row_id is None and form.get("all") != "1":
        raise HTTPException(400, "give id or all")
    model = AlertNotification if kind == "notification" else Delivery
    if kind == "notification":
        n = await reschedule_exhausted(session, model, row_id=row_id, now=utcnow())
    else:
        n = await deliveries_ops.replay(session, delivery_id=row_id, now=utcnow())
    target = f"{kind}:{row_id}" if row_id is not None else f"{kind}:all-exhausted"
    await audit(session, user, f"{kind}.replay", target, {"rescheduled": n}, request=request)
    await session.commit()
    return RedirectResponse(f"/console/ops/deliveries?done=replayed-{n}", status_code=303)


@router.post("/console/ops/endpoints/{assignee}/enable")
async def enable_endpoint(
    request: Request, user: Ops, session: Session, assignee: str, form: Annotated[Form, Depends(check_csrf)]
) -> RedirectResponse:
    del form
    n = await deliveries_ops.enable(session, assignee, now=utcnow())
    if not n:
        raise HTTPException(404, "no such delivery endpoint")
    await audit(session, user, "endpoint.enable", assignee, None, request=request)
    await session.commit()
    return RedirectResponse("/console/ops/deliveries?done=enabled", status_code=303)


@router.get("/console/ops/audit")
async def audit_trail(
    request: Request,
    user: Ops,
    session: Session,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    target: Annotated[str | None, Query(max_length=300)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    stmt = select(ConsoleAudit).order_by(ConsoleAudit.id.desc()).limit(500)
    if actor:
        stmt = stmt.where(ConsoleAudit.actor == actor)
    if target:
        stmt = stmt.where(ConsoleAudit.target == target)
    if action:
        stmt = stmt.where(ConsoleAudit.action == action)
    rows = list((await session.execute(stmt)).scalars())
    tz = request.app.state.services[Operations].tz
    return render(
        request,
        "ops/audit.html",
        user=user,
        rows=rows,
        local=lambda m: _local(m, tz),
        detail=lambda d: json.dumps(d, ensure_ascii=False) if d else "",
        filters={"actor": actor or "", "target": target or "", "action": action or ""},
    )


i18n.add(
    {
        "ops.title": {"nl": "Beheer", "en": "Operations", "fr": "Exploitation"},
        "ops.dlq": {"nl": "Dead-letter-wachtrijen", "en": "Dead-letter queues", "fr": "Files de lettres mortes"},
        "ops.dlq.of": {
            "nl": "Dead-letter-wachtrij van {consumer}",
            "en": "Dead-letter queue of {consumer}",
            "fr": "File de lettres mortes de {consumer}",
        },
        "ops.consumer": {"nl": "Consumer", "en": "Consumer", "fr": "Consommateur"},
        "ops.messages": {"nl": "Berichten", "en": "Messages", "fr": "Messages"},
        "ops.broker_down": {"nl": "broker onbereikbaar", "en": "broker unreachable", "fr": "broker injoignable"},
        "ops.empty": {"nl": "Geen berichten.", "en": "No messages.", "fr": "Aucun message."},
        "ops.shown": {
            "nl": "{n} bericht(en) (hoogstens {limit} getoond).",
            "en": "{n} message(s) (at most {limit} shown).",
            "fr": "{n} message(s) ({limit} au plus affichés).",
        },
        "ops.reason": {"nl": "Reden", "en": "Reason", "fr": "Raison"},
        "ops.failed_at": {"nl": "Mislukt op", "en": "Failed at", "fr": "Échec le"},
        "ops.attempts": {"nl": "Pogingen", "en": "Attempts", "fr": "Tentatives"},
        "ops.route": {"nl": "Route", "en": "Route", "fr": "Route"},
        "ops.headers": {"nl": "Kopregels (headers)", "en": "Headers", "fr": "En-têtes"},
        "ops.body": {"nl": "Inhoud", "en": "Body", "fr": "Contenu"},
        "ops.message_title": {
            "nl": "Bericht in de dead-letter-wachtrij van {consumer}",
            "en": "A message in the dead-letter queue of {consumer}",
            "fr": "Message dans la file des messages morts de {consumer}",
        },
        "ops.body_masked": {
            "nl": "Inhoud (persoonsgegevens afgeschermd)",
            "en": "Body (personal data masked)",
            "fr": "Contenu (données personnelles masquées)",
        },
        "ops.body_full": {
            "nl": "Toon volledig (wordt gelogd)",
            "en": "Show in full (recorded)",
            "fr": "Afficher en entier (journalisé)",
        },
        "ops.body_warning": {
            "nl": "Deze inhoud kan persoonsgegevens bevatten. Uw inzage is opgenomen in het auditlogboek.",
            "en": "This body may hold personal data. Your viewing was recorded in the audit trail.",
            "fr": "Ce contenu peut contenir des données personnelles. Votre consultation est journalisée.",
        },
        "ops.replay": {"nl": "Opnieuw aanbieden", "en": "Replay", "fr": "Rejouer"},
        "ops.replay_all": {"nl": "Alles opnieuw aanbieden", "en": "Replay all", "fr": "Tout rejouer"},
        "ops.replay_note": {
            "nl": "Terug naar de eigen wachtrij van de consumer; ontdubbeling blijft gelden (eenmaal toegepast).",
            "en": "Back to the consumer's own queue; deduplication still applies (applied once).",
            "fr": "Renvoyé dans la file du consommateur ; la déduplication s'applique (appliqué une fois).",
        },
        "ops.purge": {"nl": "Wachtrij leegmaken", "en": "Purge the queue", "fr": "Vider la file"},
        "ops.purge_confirm": {
            "nl": "Typ '{consumer}' om alle berichten definitief te verwijderen",
            "en": "Type '{consumer}' to delete every message for good",
            "fr": "Tapez '{consumer}' pour supprimer définitivement tous les messages",
        },
        "ops.purge_refused": {
            "nl": "Niet leeggemaakt: de bevestiging klopte niet.",
            "en": "Not purged: the confirmation did not match.",
            "fr": "Non vidée : la confirmation ne correspond pas.",
        },
        "ops.done.replayed": {
            "nl": "{n} bericht(en) opnieuw aangeboden.",
            "en": "{n} message(s) replayed.",
            "fr": "{n} message(s) rejoué(s).",
        },
        "ops.done.purged": {
            "nl": "{n} bericht(en) verwijderd.",
            "en": "{n} message(s) deleted.",
            "fr": "{n} message(s) supprimé(s).",
        },
        "ops.done.enabled": {"nl": "Eindpunt ingeschakeld.", "en": "Endpoint enabled.", "fr": "Point activé."},
        "ops.deliveries": {"nl": "Geplande leveringen", "en": "Scheduled deliveries", "fr": "Livraisons planifiées"},
        "ops.endpoints": {"nl": "Eindpunten", "en": "Endpoints", "fr": "Points de livraison"},
        "ops.assignee": {"nl": "Uitvoerder", "en": "Assignee", "fr": "Exécutant"},
        "ops.channel": {"nl": "Kanaal", "en": "Channel", "fr": "Canal"},
        "ops.state": {"nl": "Toestand", "en": "State", "fr": "État"},
        "ops.enable": {"nl": "Inschakelen", "en": "Enable", "fr": "Activer"},
        "ops.endpoint.enabled": {"nl": "ingeschakeld", "en": "enabled", "fr": "activé"},
        "ops.endpoint.not_configured": {"nl": "niet ingesteld", "en": "not configured", "fr": "non configuré"},
        "ops.endpoint.disabled": {"nl": "uitgeschakeld", "en": "disabled", "fr": "désactivé"},
        "ops.endpoint.circuit_open": {
            "nl": "circuit open: leveringen gepauzeerd",
            "en": "circuit open: deliveries paused",
            "fr": "circuit ouvert : livraisons en pause",
        },
        "ops.endpoint.circuit_half_open": {
            "nl": "circuit half open",
            "en": "circuit half-open",
            "fr": "circuit semi-ouvert",
        },
        "ops.endpoint.missing.webhook": {
            "nl": "geen geheim in {setting}; de leveringen wachten",
            "en": "no secret in {setting}; deliveries wait",
            "fr": "aucun secret dans {setting} ; les livraisons attendent",
        },
        "ops.endpoint.missing.email": {
            "nl": "geen {setting}; de leveringen wachten",
            "en": "no {setting}; deliveries wait",
            "fr": "pas de {setting} ; les livraisons attendent",
        },
        "ops.endpoint.since": {
            "nl": "sinds {at} ({reason})",
            "en": "since {at} ({reason})",
            "fr": "depuis {at} ({reason})",
        },
        "ops.endpoint.no_reason": {"nl": "geen reden", "en": "no reason", "fr": "sans raison"},
        "ops.endpoint.until": {"nl": "tot {at}", "en": "until {at}", "fr": "jusqu'à {at}"},
        "ops.endpoint.probe": {
            "nl": "de volgende levering test het eindpunt",
            "en": "the next delivery probes it",
            "fr": "la prochaine livraison le teste",
        },
        "ops.endpoint.failures": {
            "nl": "mislukte pogingen na elkaar: {n}",
            "en": "failures in a row: {n}",
            "fr": "échecs d'affilée : {n}",
        },
        "ops.contractor_deliveries": {
            "nl": "Werkorders naar aannemers (webhook, e-mail)",
            "en": "Work orders to contractors (webhook, e-mail)",
            "fr": "Bons de travail aux prestataires (webhook, e-mail)",
        },
        "ops.alert_notifications": {
            "nl": "Meldingen aan het communicatieteam (e-mail, chat)",
            "en": "Alerts to the communication team (e-mail, chat)",
            "fr": "Alertes à l'équipe communication (e-mail, chat)",
        },
        "ops.pending": {"nl": "Wachtend", "en": "Pending", "fr": "En attente"},
        "ops.exhausted": {"nl": "Opgegeven", "en": "Exhausted", "fr": "Abandonnées"},
        "ops.next_attempt": {"nl": "Volgende poging", "en": "Next attempt", "fr": "Prochaine tentative"},
        "ops.last": {"nl": "Laatste antwoord", "en": "Last answer", "fr": "Dernière réponse"},
        "ops.work_order": {"nl": "Werkorder", "en": "Work order", "fr": "Bon de travail"},
        "ops.alert": {"nl": "Melding", "en": "Alert", "fr": "Alerte"},
        "ops.replay_exhausted": {
            "nl": "Alle opgegeven opnieuw",
            "en": "Replay every exhausted one",
            "fr": "Relancer toutes les abandonnées",
        },
        "ops.audit": {"nl": "Auditlogboek", "en": "Audit trail", "fr": "Journal d'audit"},
        "ops.target": {"nl": "Betreft", "en": "Target", "fr": "Objet"},
        "ops.detail": {"nl": "Details", "en": "Detail", "fr": "Détails"},
        "ops.address": {"nl": "Adres", "en": "Address", "fr": "Adresse"},
        "ops.filter": {"nl": "Filteren", "en": "Filter", "fr": "Filtrer"},
        "ops.counts": {"nl": "Per toestand: {counts}", "en": "By state: {counts}", "fr": "Par état : {counts}"},
    }
)

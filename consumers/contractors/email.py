"""A work order as a readable Dutch e-mail (plain text and simple HTML), built only from the WorkOrderIssued.

The message carries exactly what the assignee's data policy let the router put in the work order: for a
contractor, no reporter. Nothing here reads the reports table.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

from consumers.domain.calendar import dutch_date
from consumers.domain.catalogue import Assignee
from contracts import IncidentOrderDetails, IncidentOrderUpdated, WorkOrderIssued
from infra.mailer import header_value

BRUSSELS = ZoneInfo("Europe/Brussels")
_FRACTIONS = {"residual": "restafval", "pmd": "PMD", "paper": "papier-karton", "organic": "GFT", "glass": "glas"}


def _address(order: WorkOrderIssued) -> str:
    loc = order.location
    street = f"{loc.street} {loc.house_number}" if loc.house_number else (loc.street or "(straat onbekend)")
    return f"{street}, {loc.postcode or ''} {loc.district or ''}".rstrip(" ,")


def _lines(order: WorkOrderIssued, assignee: Assignee) -> list[tuple[str, str]]:
    category = order.category_name_nl
    if order.waste_fraction:
        category += f" ({_FRACTIONS.get(order.waste_fraction, order.waste_fraction)})"
    days = "werkdag" if order.sla_working_days == 1 else "werkdagen"
    issued = order.issued_at.astimezone(BRUSSELS)
    rows = [
        ("Werkbon", order.work_order_id),
        ("Melding", order.report_id),
        ("Categorie", category),
        ("Adres", _address(order)),
        ("Uiterste datum", f"{dutch_date(order.due_date)} ({order.sla_working_days} {days})"),
        ("Uitgegeven", f"{dutch_date(issued.date())} om {issued:%H:%M}"),
        ("Ontvangst bevestigen binnen", f"{assignee.ack_hours:g} uur"),
    ]
    if order.incident is not None:
        rows[1:2] = [
            ("Incident", order.incident.incident_id),
            ("Meldingen", f"{order.incident.reports} (eerste melding {order.report_id})"),
            ("Adressen", _addresses(order.incident)),
        ]
    if order.location.lat is not None and order.location.lon is not None:
        rows.append(("Coördinaten", f"{order.location.lat:.5f}, {order.location.lon:.5f}"))
    reporter = order.reporter
    if reporter is not None:  # only for assignees whose data policy allows it; never for contractors
        for label, value in (("Melder", reporter.name), ("Telefoon", reporter.phone), ("E-mail", reporter.email)):
            if value:
                rows.append((label, str(value)))
    return rows


PAGE_INTRO = "Al uw open werkbonnen, met hun uiterste datum:"


def _addresses(incident: IncidentOrderDetails, limit: int = 40) -> str:
    shown = [
        f"{a.street} {a.house_number} ({a.reports})" if a.house_number else f"{a.street} ({a.reports})"
        for a in incident.addresses[:limit]
    ]
    more = len(incident.addresses) - limit
    return "; ".join(shown) + (f"; en {more} meer" if more > 0 else "") if shown else "(geen adressen)"


@dataclass(frozen=True)
class Envelope:
    """Who an e-mail to an assignee is from and to, when it is sent, and the delivery it is (its Message-ID)."""

    sender: str
    to: str
    reply_to: str | None
    delivery_id: str
    now: dt.datetime


def _headed(subject: str, work_order_id: str, envelope: Envelope) -> EmailMessage:
    """A message with the headers every e-mail to an assignee has; the Message-ID is the delivery's, the same on every
    attempt, so a mailbox can drop a copy. Every header value built from data is one clean line (a street may hold a
    newline: it would raise here)."""
    message = EmailMessage()
    message["Subject"] = header_value(subject)
    message["From"] = header_value(envelope.sender)
    message["To"] = header_value(envelope.to)
    if envelope.reply_to:
        message["Reply-To"] = header_value(envelope.reply_to)
    message["Date"] = format_datetime(envelope.now)
    domain = envelope.sender.rpartition("@")[2] or "city-contact-hub"
    delivery_id = envelope.delivery_id
    message["Message-ID"] = f"<{delivery_id}@{domain}>" if delivery_id else make_msgid(domain=domain)
    message["X-Work-Order-Id"] = header_value(work_order_id)
    return message


def _link_lines(links: Sequence[tuple[str, str]]) -> list[str]:
    """The one-click answer links as plain-text lines (none without links)."""
    return [LINKS_INTRO, ""] + [f"{label}: {url}" for label, url in links] if links else []


def _link_items(links: Sequence[tuple[str, str]]) -> str:
    """The one-click answer links as an HTML list ("" without links)."""
    esc = html.escape
    items = "".join(f'<li><a href="{esc(url)}">{esc(label)}</a></li>' for label, url in links)
    return f"<ul>{items}</ul>" if links else ""


def compose_update_email(
    update: IncidentOrderUpdated,
    assignee: Assignee,
    envelope: Envelope,
) -> EmailMessage:
    """An incident order's update: the whole picture again (every address with its counts), plain text."""
    incident = update.incident
    message = _headed(
        f"Werkbon {update.work_order_id}: update {update.seq}, {incident.reports} meldingen in {incident.district}",
        update.work_order_id,
        envelope,
    )
    text = [
        f"Beste {assignee.name},",
        "",
        f"Bij werkbon {update.work_order_id} (incident {incident.incident_id}) kwamen meldingen bij: "
        f"{len(update.new_report_ids)} nieuwe, {incident.reports} in totaal.",
    ]
    if update.unfolded_report_ids:
        text.append(
            "Niet langer deel van deze werkbon (ze krijgen een eigen werkbon): " + ", ".join(update.unfolded_report_ids)
        )
    text += ["", "Straten: " + ", ".join(f"{s.street} ({s.reports})" for s in incident.streets)]
    text += ["Adressen: " + _addresses(incident), "", "Eén werkbon voor alle adressen: meld 'klaar' op deze werkbon."]
    text += ["", "Met vriendelijke groeten,", "Het ContactCenter van de stad"]
    message.set_content("\n".join(text) + "\n")
    return message


LINKS_INTRO = "Antwoord met één klik: elke link opent een bevestigingspagina, er verandert niets voor u bevestigt."


def answer_text(order: WorkOrderIssued) -> str:
    return (
        f"Antwoord op deze e-mail en vermeld de referentie {order.work_order_id} in het onderwerp. Laat ons weten "
        "of u de werkbon aanvaardt of weigert (met de reden), voor wanneer de werken gepland zijn en wanneer ze "
        "klaar zijn."
    )


def compose_work_order_email(
    order: WorkOrderIssued,
    assignee: Assignee,
    envelope: Envelope,
    *,
    links: Sequence[tuple[str, str]] = (),
    page_url: str | None = None,
) -> EmailMessage:
    """One e-mail per work order; the same Message-ID on every attempt, so a mailbox can drop a copy.

    With `links` ((label, URL) per next step, signed for the assignee) the contractor answers with one click: each
    opens a confirmation page, nothing changes before it is confirmed."""
    rows = _lines(order, assignee)
    message = _headed(
        f"Werkbon {order.work_order_id}: {order.category_name_nl}, {_address(order)}",
        order.work_order_id,
        envelope,
    )

    width = max(len(label) for label, _ in rows) + 1
    text = [f"Beste {assignee.name},", "", "De stad vraagt u de volgende melding op te volgen.", ""]
    text += [f"{label + ':':<{width}} {value}" for label, value in rows]
    text += ["", "Omschrijving:", order.description or "(geen omschrijving)", "", "Hoe antwoorden?"]
    if links:
        text += [*_link_lines(links), "", "Of: " + answer_text(order)]
    else:
        text.append(answer_text(order))
    if page_url:
        text += ["", f"{PAGE_INTRO} {page_url}"]
    text += ["", "Met vriendelijke groeten,", "Het ContactCenter van de stad"]
    message.set_content("\n".join(text) + "\n")

    esc = html.escape
    table = "".join(
        f'<tr><th style="text-align:left;padding-right:1em">{esc(label)}</th><td>{esc(value)}</td></tr>'
        for label, value in rows
    )
    description = esc(order.description or "(geen omschrijving)").replace("\n", "<br>")
    link_list = f"<p>{esc(LINKS_INTRO)}</p>{_link_items(links)}" if links else ""
    body = (
        '<!doctype html><html lang="nl"><body style="font-family:sans-serif">'
        f"<p>Beste {esc(assignee.name)},</p><p>De stad vraagt u de volgende melding op te volgen.</p>"
        f"<table>{table}</table><h3>Omschrijving</h3><p>{description}</p>"
        f"<h3>Hoe antwoorden?</h3>{link_list}<p>{esc(answer_text(order))}</p>{_page_paragraph(page_url)}"
        "<p>Met vriendelijke groeten,<br>Het ContactCenter van de stad</p></body></html>"
    )
    message.add_alternative(body, subtype="html")
    return message


def _page_paragraph(page_url: str | None) -> str:
    if not page_url:
        return ""
    return f'<p>{html.escape(PAGE_INTRO)} <a href="{html.escape(page_url)}">uw werkbonnen</a></p>'


def compose_reminder_email(
    data: Mapping[str, str],
    assignee: Assignee,
    envelope: Envelope,
    *,
    links: Sequence[tuple[str, str]] = (),
    page_url: str | None = None,
) -> EmailMessage:
    """The reminder of an order still open on its due date: which order, its due date and status, how to answer.

    Built from the reminder's own payload (ids, category, dates, status): nothing from the report."""
    due = dt.date.fromisoformat(data["due_date"])
    message = _headed(
        f"Herinnering: werkbon {data['work_order_id']} moet klaar zijn op {dutch_date(due)}",
        data["work_order_id"],
        envelope,
    )
    intro = (
        f"Werkbon {data['work_order_id']} ({data['category_name_nl']}, melding {data['report_id']}) moet klaar zijn "
        f"op {dutch_date(due)} en staat nog open (status: {data['status']})."
    )
    text = [f"Beste {assignee.name},", "", intro, ""]
    if links:
        text += [*_link_lines(links), ""]
    if page_url:
        text += [f"{PAGE_INTRO} {page_url}", ""]
    text += ["Met vriendelijke groeten,", "Het ContactCenter van de stad"]
    message.set_content("\n".join(text) + "\n")
    esc = html.escape
    message.add_alternative(
        '<!doctype html><html lang="nl"><body style="font-family:sans-serif">'
        f"<p>Beste {esc(assignee.name)},</p><p>{esc(intro)}</p>{_link_items(links)}{_page_paragraph(page_url)}"
        "<p>Met vriendelijke groeten,<br>Het ContactCenter van de stad</p></body></html>",
        subtype="html",
    )
    return message

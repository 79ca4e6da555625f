"""What the communication team reads: the e-mail and the chat message of an alert (pure, no I/O).

Both carry the ready drafts first (what the team posts), then the figures behind the alert, and, when the console's
public address is configured (`HUB_COMMS_CONSOLE_URL`), a link to the incident's page there. The chat message is
either plain Markdown text (`{"text": ...}`: Slack, Mattermost, Rocket.Chat) or a Microsoft Teams Workflows message
with an Adaptive Card (`teams_card`; Teams' Office 365 connectors that took `{"text"}` are retired). Alerts carry no
personal data (report ids, streets and counts only), so neither does anything composed here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from contracts import SpikeDetected, SpikeResolved
from infra.mailer import header_value

Alert = SpikeDetected | SpikeResolved


def _local(moment: dt.datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


INCIDENT_PATH = "/console/comms/incidents/"
# Adaptive Cards 1.4: what Teams renders on every client (desktop, web, mobile) from a Workflows post.
CARD_VERSION = "1.4"


def incident_url(console_url: str | None, incident_id: str) -> str | None:
    """The incident's page in the console, under its public address; None without one."""
    if not console_url:
        return None
    return f"{console_url.rstrip('/')}{INCIDENT_PATH}{quote(incident_id, safe='')}"


def subject(alert: Alert) -> str:
    where = alert.district if alert.street is None else f"{alert.street} ({alert.district})"
    if isinstance(alert, SpikeResolved):
        return f"[Opgelost / resolved] {alert.category} in {where}"
    label = "Update" if alert.update else "Meldingspiek / spike"
    return f"[{label}] {alert.category} in {where}"


def _link_line(url: str | None) -> list[str]:
    return [] if url is None else ["", f"Incidentpagina / incident page: {url}"]


def text(alert: Alert, tz: ZoneInfo, url: str | None = None) -> str:
    """Plain text: drafts first, then the figures and ids, then the incident page's link (when there is a console)."""
    if isinstance(alert, SpikeResolved):
        return "\n".join(
            [
                f"Het incident {alert.incident_id} is voorbij: geen nieuwe meldingen meer.",
                f"The incident {alert.incident_id} is over: no new calls or reports.",
                "",
                f"Incident: {alert.incident_key}",
                f"Detected: {_local(alert.detected_at, tz)}",
                f"Resolved: {_local(alert.resolved_at, tz)}",
                f"Total: {alert.total_calls} calls, {alert.total_reports} reports",
                *_link_line(url),
            ]
        )
    lines = [
        "Ontwerptekst (NL):",
        alert.draft_nl,
        "",
        "Draft (EN):",
        alert.draft_en,
        "",
        f"Incident: {alert.incident_id} ({alert.incident_key})",
        f"In the last {alert.window_minutes} min: {alert.calls_in_window} calls, {alert.reports_in_window} reports "
        f"(usually {alert.baseline:.1f}; p = {alert.p_value:.1e})",
        f"First seen: {_local(alert.first_seen_at, tz)}, last seen: {_local(alert.last_seen_at, tz)}, "
        f"detected: {_local(alert.detected_at, tz)}",
    ]
    if alert.waste_fraction:
        lines.append(f"Waste fraction: {alert.waste_fraction}")
    if alert.affected_streets:
        lines.append(f"Streets: {', '.join(alert.affected_streets)}")
    if alert.assignees_notified:
        lines.append(f"Already notified: {', '.join(alert.assignees_notified)}")
    if alert.sample_report_ids:
        lines.append(f"Reports: {', '.join(alert.sample_report_ids)}")
    lines += _link_line(url)
    return "\n".join(lines)


def chat_text(alert: Alert, tz: ZoneInfo, url: str | None = None) -> str:
    """The chat message: the subject in bold, then the same text."""
    return f"**{subject(alert)}**\n\n{text(alert, tz, url)}"


def _block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _facts(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {"type": "FactSet", "facts": [{"title": title, "value": value} for title, value in pairs if value]}


def teams_card(alert: Alert, tz: ZoneInfo, url: str | None = None) -> dict[str, Any]:
    """The Adaptive Card of an alert: the subject, the drafts, the figures as facts, a button to the incident page."""
    body: list[dict[str, Any]] = [_block(subject(alert), size="Medium", weight="Bolder", style="heading")]
    if isinstance(alert, SpikeResolved):
        body += [
            _block(f"Het incident {alert.incident_id} is voorbij: geen nieuwe meldingen meer."),
            _block(f"The incident {alert.incident_id} is over: no new calls or reports.", isSubtle=True),
            _facts(
                [
                    ("Incident", alert.incident_key),
                    ("Detected", _local(alert.detected_at, tz)),
                    ("Resolved", _local(alert.resolved_at, tz)),
                    ("Total", f"{alert.total_calls} calls, {alert.total_reports} reports"),
                ]
            ),
        ]
    else:
        body += [
            _block("Ontwerptekst (NL)", weight="Bolder", spacing="Medium"),
            _block(alert.draft_nl),
            _block("Draft (EN)", weight="Bolder", spacing="Medium"),
            _block(alert.draft_en),
            _facts(
                [
                    ("Incident", alert.incident_id),
                    (
                        f"Last {alert.window_minutes} min",
                        f"{alert.calls_in_window} calls, {alert.reports_in_window} reports "
                        f"(usually {alert.baseline:.1f})",
                    ),
                    ("First seen", _local(alert.first_seen_at, tz)),
                    ("Last seen", _local(alert.last_seen_at, tz)),
                    ("Waste fraction", alert.waste_fraction or ""),
                    ("Streets", ", ".join(alert.affected_streets)),
                    ("Already notified", ", ".join(alert.assignees_notified)),
                ]
            ),
        ]
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        # Teams shows a card at its narrow default width; full width keeps the drafts readable.
        "msteams": {"width": "Full"},
    }
    if url is not None:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Incidentpagina / incident page", "url": url}]
    return card


def message_id_header(notification_id: str, domain: str) -> str:
    """A Message-ID that is the same on every attempt, so a mail client shows a repeat send as one message."""
    digest = hashlib.sha256(notification_id.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def email(
    alert: Alert,
    *,
    sender: str,
    to: list[str],
    notification_id: str,
    now: dt.datetime,
    tz: ZoneInfo,
    url: str | None = None,
) -> EmailMessage:
    message = EmailMessage()
    # Header values built from data (a district or street of an incident) are one clean line each.
    message["From"] = header_value(sender)
    message["To"] = header_value(", ".join(to), max_chars=2000)
    message["Subject"] = header_value(subject(alert))
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id_header(notification_id, sender.rpartition("@")[2] or "city-contact-hub")
    message["X-Hub-Incident-Id"] = header_value(alert.incident_id)
    message.set_content(text(alert, tz, url))
    return message

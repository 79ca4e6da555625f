"""What the communication team reads: the e-mail and the chat message of an alert (pure, no I/O).

Both carry the ready drafts first (what the team posts), then the figures behind the alert. Alerts carry no
personal data (report ids, streets and counts only), so neither does anything composed here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from contracts import SpikeDetected, SpikeResolved
from infra.mailer import header_value

Alert = SpikeDetected | SpikeResolved


def _local(moment: dt.datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def subject(alert: Alert) -> str:
    where = alert.district if alert.street is None else f"{alert.street} ({alert.district})"
    if isinstance(alert, SpikeResolved):
        return f"[Opgelost / resolved] {alert.category} in {where}"
    label = "Update" if alert.update else "Meldingspiek / spike"
    return f"[{label}] {alert.category} in {where}"


def text(alert: Alert, tz: ZoneInfo) -> str:
    """Plain text: drafts first, then the figures and ids."""
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
    return "\n".join(lines)


def chat_text(alert: Alert, tz: ZoneInfo) -> str:
    """The chat message: the subject in bold, then the same text."""
    return f"**{subject(alert)}**\n\n{text(alert, tz)}"


def message_id_header(notification_id: str, domain: str) -> str:
    """A Message-ID that is the same on every attempt, so a mail client shows a repeat send as one message."""
    digest = hashlib.sha256(notification_id.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def email(
    alert: Alert, *, sender: str, to: list[str], notification_id: str, now: dt.datetime, tz: ZoneInfo
) -> EmailMessage:
    message = EmailMessage()
    # Header values built from data (a district or street of an incident) are one clean line each.
    message["From"] = header_value(sender)
    message["To"] = header_value(", ".join(to), max_chars=2000)
    message["Subject"] = header_value(subject(alert))
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id_header(notification_id, sender.rpartition("@")[2] or "city-contact-hub")
    message["X-Hub-Incident-Id"] = header_value(alert.incident_id)
    message.set_content(text(alert, tz))
    return message

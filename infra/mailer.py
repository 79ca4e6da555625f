"""Sending e-mail over SMTP (aiosmtplib): one message per session, with an explicit timeout; header values made
safe from the data they are built of."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

HEADER_MAX_CHARS = 250
"""A header value built from data (a street, a district, a name) is cut to this: well inside a line's 998 octets."""


def header_value(text: str, max_chars: int = HEADER_MAX_CHARS) -> str:
    """`text` as one safe header line: control and format characters and line or paragraph separators (CR, LF, NUL,
    ESC, U+2028, ...) become spaces, runs of whitespace one space, and a value longer than `max_chars` is cut with "…".

    A street written "Stapelstraat\\r\\nBcc: ..." can then neither add a header nor make the e-mail library raise
    (it refuses CR and LF in a header value).
    """
    cleaned = "".join(" " if unicodedata.category(ch)[0] == "C" or ch in "\u2028\u2029" else ch for ch in text)
    one_line = " ".join(cleaned.split())
    if len(one_line) > max_chars:
        one_line = one_line[: max_chars - 1].rstrip() + "…"
    return one_line


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str | None
    password: str | None
    starttls: bool
    timeout_s: float


class Mailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    async def send(self, message: EmailMessage) -> None:
        """Deliver to the SMTP server; raises aiosmtplib.SMTPException or OSError on failure."""
        s = self.settings
        await aiosmtplib.send(
            message,
            hostname=s.host,
            port=s.port,
            username=s.user,
            password=s.password,
            start_tls=s.starttls,
            use_tls=False,
            timeout=s.timeout_s,
        )

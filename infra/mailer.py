"""Sending e-mail over SMTP (aiosmtplib): one message per session, with an explicit timeout."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib


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

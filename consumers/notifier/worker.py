"""Sends due alert notifications by e-mail and to the chat webhook, with retries scheduled in the database.

* claim due rows with an UPDATE ... RETURNING that moves `next_attempt_at` a lease ahead, so replicas never
  send the same row at the same time, and a crashed sender's row is tried again when its lease runs out;
* send; 2xx (or the SMTP server's acceptance): delivered. Anything else (timeout, refused connection,
  4xx/5xx, 3xx is not followed): the next attempt after the schedule's next delay, with jitter, or later
  when `Retry-After` says so; after the last one the row is `exhausted` and shows in `hub alerts list`.

Delivery is at least once: a crash after the send and before its row is updated sends it again on the same
`Message-ID` / `idempotency-key`. The alert itself is on `comms.alerts` whatever happens here.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.notifier import compose
from consumers.notifier.tables import AlertNotification
from contracts import SpikeDetected, SpikeResolved
from infra.chat import ChatFormat, ChatWebhookSender, adaptive_card_body, chat_body
from infra.clock import utcnow
from infra.mailer import Mailer
from infra.sending import (
    EXHAUSTED,
    Channel,
    ChatChannel,
    EmailChannel,
    Result,
    RetrySchedule,
    Send,
    claim_due,
    isolated,
    poll,
)

log = logging.getLogger(__name__)

_ALERT = TypeAdapter(SpikeDetected | SpikeResolved)


# Up to 10 % jitter spreads the retries of many alerts that failed together (the chat was down); a `Retry-After` is
# honoured up to an hour, so a bogus header cannot park an alert for days.
ALERT_JITTER = 0.1
ALERT_MAX_RETRY_AFTER_S = 3600.0


@dataclass(frozen=True)
class NotifierConfig:
    schedule_s: Sequence[float]
    email_to: Sequence[str] = ()
    email_from: str = "meldingspieken@stad.example.be"
    timezone: str = "Europe/Brussels"
    poll_interval_s: float = 1.0
    batch_size: int = 20
    lease_s: float = 120.0
    # The chat endpoint's body shape; the console's public address, for the incident links (None: no links).
    chat_format: ChatFormat = "text"
    console_url: str | None = None

    @property
    def retry(self) -> RetrySchedule:
        return RetrySchedule(self.schedule_s, jitter=ALERT_JITTER, max_retry_after_s=ALERT_MAX_RETRY_AFTER_S)


@dataclass(frozen=True)
class _Claimed:
    id: int
    notification_id: str
    channel: str
    body: bytes
    attempts: int


class NotifierWorker:
    """One loop: claim what is due, send it (a few at a time), record the outcome."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        config: NotifierConfig,
        *,
        mailer: Mailer | None = None,
        chat: ChatWebhookSender | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self.config = config
        self._mailer = mailer if config.email_to else None
        self._chat = chat
        self._clock = clock
        self._rng = rng or random.Random()
        self._tz = ZoneInfo(config.timezone)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.attempts = 0
        self.delivered = 0

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels that can send; alerts are only scheduled on these."""
        return tuple(c for c, ok in (("email", self._mailer is not None), ("webhook", self._chat is not None)) if ok)

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        if not self.channels:
            log.warning(
                "no e-mail (HUB_SMTP_HOST, HUB_COMMS_EMAIL_TO) or chat webhook (HUB_COMMS_WEBHOOK_URL): "
                "alerts reach the team on comms.alerts only"
            )
        elif not self.config.console_url:
            # Every alert is meant to link to its incident's page; without the console's public address it cannot.
            log.warning(
                "no HUB_COMMS_CONSOLE_URL (the console's public address): alert e-mails and chat messages carry "
                "no link to the incident's page"
            )
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="notifier")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._chat is not None:
            await self._chat.aclose()

    async def _run(self) -> None:
        await poll(self.run_once, self._wake, interval_s=self.config.poll_interval_s, name="notifier")

    async def run_once(self) -> int:
        """Claim and send what is due; the number of attempts made (tests drive the worker with this)."""
        claimed = await self._claim(self._clock())
        if not claimed:
            return 0
        gate = asyncio.Semaphore(4)

        async def attempt(row: _Claimed) -> None:
            async with gate:
                # One row that raises is that row's failure: the others are sent and recorded all the same.
                result = await isolated(self._send(row, self._clock()), row=row.notification_id)
                await self._record(row, result, self._clock())

        await asyncio.gather(*(attempt(row) for row in claimed))
        return len(claimed)

    async def _claim(self, now: dt.datetime) -> list[_Claimed]:
        n = AlertNotification
        channels = self.channels
        if not channels:
            return []
        rows = await claim_due(
            self._sessions,
            n,
            n.channel.in_(channels),
            now=now,
            lease=dt.timedelta(seconds=self.config.lease_s),
            limit=self.config.batch_size,
            returning=(n.id, n.notification_id, n.channel, n.body, n.attempts),
        )
        return [_Claimed(r[0], r[1], r[2], r[3], r[4]) for r in sorted(rows, key=lambda r: r[0])]

    async def _send(self, row: _Claimed, now: dt.datetime) -> Result:
        self.attempts += 1
        return await self._channels()[row.channel].send(Send(row.notification_id, row.body, now))

    def _channels(self) -> dict[str, Channel]:
        """The configured ways out. The stored channel name `webhook` (schema and data unchanged) is the chat."""
        channels: dict[str, Channel] = {}
        if self._mailer is not None:
            channels["email"] = EmailChannel(self._mailer, self._email)
        if self._chat is not None:
            channels["webhook"] = ChatChannel(self._chat, self._chat_body)
        return channels

    def _url(self, alert: SpikeDetected | SpikeResolved) -> str | None:
        return compose.incident_url(self.config.console_url, alert.incident_id)

    def _chat_body(self, item: Send) -> bytes:
        alert = _ALERT.validate_json(item.body)
        if self.config.chat_format == "teams":
            return adaptive_card_body(compose.teams_card(alert, self._tz, self._url(alert)))
        return chat_body(compose.chat_text(alert, self._tz, self._url(alert)))

    def _email(self, item: Send) -> EmailMessage:
        alert = _ALERT.validate_json(item.body)
        return compose.email(
            alert,
            sender=self.config.email_from,
            to=list(self.config.email_to),
            notification_id=item.key,
            now=item.at,
            tz=self._tz,
            url=self._url(alert),
        )

    async def _record(self, row: _Claimed, result: Result, now: dt.datetime) -> None:
        values = self.config.retry.attempt_values(row.attempts, result, now, rng=self._rng)
        attempts = row.attempts + 1
        if result.ok:
            self.delivered += 1
        elif values["state"] == EXHAUSTED:
            log.error(
                "alert notification exhausted", extra={"notification_id": row.notification_id, "attempts": attempts}
            )
        else:
            log.warning(
                "alert notification failed, retrying",
                extra={"notification_id": row.notification_id, "attempt": attempts, "error": result.error},
            )
        async with self._sessions() as session, session.begin():
            await session.execute(update(AlertNotification).where(AlertNotification.id == row.id).values(**values))

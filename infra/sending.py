"""What the hub's two scheduled senders share: the retry schedule, each channel's result type, and failure
isolation per row.

The contractors' deliveries (webhook and e-mail, `consumers/contractors/deliveries.py`) and the communication
team's alert notifications (e-mail and chat, `consumers/notifier/worker.py`) each keep a table of rows to send,
claim due rows under a lease, send them and record the outcome. The pieces here are the same for both:

* `ScheduledRow`: the columns of a row to send (the two tables stay two tables, with these columns in common);
* `claim_due`: the lease claim, so that each due row is sent by one replica at a time;
* `poll`: the loop that runs rounds, sleeps when there was nothing to send, and backs off when a round fails;
* `RetrySchedule`: the one retry computation (a schedule of delays, jitter that only lengthens a delay, a
  `Retry-After` that may lengthen it up to a cap) and the one way a row's columns follow from an attempt
  (`attempt_values`); each sender keeps its own figures (`DeliveryConfig.retry`, `NotifierConfig.retry`).
* results per channel: an HTTP send (webhook, chat) gives an `AttemptResult` with its HTTP status; an e-mail
  gives a `MailResult`, which has no HTTP status (an SMTP "250 OK" is not an HTTP 2xx and is never stored as one).
* `Channel`: webhook, e-mail and chat, each `send` answering with its channel's result type;
* `isolated`: an attempt that raises (a body that no longer parses, a header value the mailer rejects, a bug)
  is that row's failure, with its reason, retried on the row's own schedule; it never aborts the round, so the
  rows beside it are recorded and a row that was sent is never sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

import aiosmtplib
from sqlalchemy import ColumnElement, Integer, LargeBinary, String, Text, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from infra.db.base import BigId, Timestamp
from infra.webhooks import AttemptResult

log = logging.getLogger(__name__)

# The states of a row: to send (again), sent, given up after its schedule.
PENDING, DELIVERED, EXHAUSTED = "pending", "delivered", "exhausted"


@dataclass(frozen=True)
class RetrySchedule:
    """Delays between attempts (`delays_s[i]` after the (i+1)-th failed attempt), jitter and Retry-After cap."""

    delays_s: Sequence[float]
    jitter: float
    max_retry_after_s: float

    def next_delay(
        self, attempts_done: int, *, retry_after_s: float | None = None, rng: random.Random | None = None
    ) -> float | None:
        """Seconds until the next attempt after `attempts_done` failed ones; None when the schedule is used up.

        The jitter only lengthens a delay (spreading the retries of many rows that failed together), so the
        whole schedule still spans what it says; a `Retry-After` longer than the scheduled delay wins, capped so a
        bogus header cannot park a row for long.
        """
        if attempts_done < 1:
            raise ValueError("attempts_done counts the attempts made: at least 1")
        if attempts_done > len(self.delays_s):
            return None
        delay = self.delays_s[attempts_done - 1] * (1.0 + self.jitter * (rng or random).random())
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.max_retry_after_s))
        return delay

    def attempt_values(
        self,
        attempts_before: int,
        result: Result,
        at: dt.datetime,
        *,
        rng: random.Random | None = None,
        hold: bool = False,
    ) -> dict[str, object]:
        """A row's columns after one more attempt, made at `at` with `result` (the same keys whatever the outcome,
        so a round's rows go out as one executemany): delivered; or pending, due after the schedule's next
        delay; or exhausted when the schedule is used up.

        `hold`: the failure is not the row's (its endpoint answered 410 Gone): it stays pending, due at once, and
        waits with the endpoint's other rows, its schedule not consumed.
        """
        attempts = attempts_before + 1
        values: dict[str, object] = {
            "attempts": attempts,
            "last_attempt_at": at,
            "last_status": result.status,
            "state": PENDING,
            "delivered_at": None,
            "last_error": result.error,
            "next_attempt_at": at,
        }
        if result.ok:
            values |= {"state": DELIVERED, "delivered_at": at, "last_error": None}
        elif not hold:
            delay = self.next_delay(attempts, retry_after_s=result.retry_after_s, rng=rng)
            if delay is None:
                values["state"] = EXHAUSTED
            else:
                values["next_attempt_at"] = at + dt.timedelta(seconds=delay)
        return values


class Result(Protocol):
    """What the senders record of one attempt, whatever the channel."""

    @property
    def ok(self) -> bool: ...
    @property
    def gone(self) -> bool: ...
    @property
    def status(self) -> int | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def retry_after_s(self) -> float | None: ...


@dataclass(frozen=True)
class MailResult:
    """One e-mail attempt: taken by the SMTP server, or refused/failed with the reason. No HTTP status."""

    ok: bool
    error: str | None = None
    retry_after_s: float | None = None

    @property
    def status(self) -> None:
        return None

    @property
    def gone(self) -> bool:
        return False


@dataclass(frozen=True)
class AttemptFailed:
    """An attempt that raised before any answer came: that row's failure, with the reason."""

    error: str
    ok: bool = False
    gone: bool = False
    status: None = None
    retry_after_s: None = None


async def send_mail(send: Awaitable[object]) -> MailResult:
    """Await an SMTP send: what the server answered, as a MailResult."""
    try:
        await send
    except aiosmtplib.SMTPResponseException as exc:
        return MailResult(False, f"SMTP {exc.code}: {exc.message}"[:500])
    except (aiosmtplib.SMTPException, OSError) as exc:
        return MailResult(False, f"{type(exc).__name__}: {exc}"[:500])
    return MailResult(True)


async def isolated(attempt: Awaitable[Result], *, row: str) -> Result:
    """The attempt's result; an exception it raises is this row's failure (logged with the row's id)."""
    try:
        return await attempt
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"[:500]
        log.error("send attempt raised: recorded as failed", extra={"row": row, "error": reason})
        return AttemptFailed(reason)


class ScheduledRow:
    """Mixin: the columns every scheduled-send row has (`deliveries`, `alert_notifications`)."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(10))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


async def claim_due(
    sessions: async_sessionmaker[AsyncSession],
    model: type[ScheduledRow],
    *where: ColumnElement[bool],
    now: dt.datetime,
    lease: dt.timedelta,
    limit: int,
    returning: Sequence[Any],
) -> list[tuple[Any, ...]]:
    """Lease up to `limit` due pending rows (oldest due first): moved `lease` into the future, so no other replica
    takes them meanwhile; a row whose outcome is never recorded (a crash) is due again when the lease ends.

    The WHERE is evaluated again on rows another replica changed meanwhile: each row is claimed once.
    """
    due = (
        select(model.id)
        .where(model.state == PENDING, model.next_attempt_at <= now, *where)
        .order_by(model.next_attempt_at, model.id)
        .limit(limit)
        .scalar_subquery()
    )
    stmt = (
        update(model)
        .where(model.id.in_(due), model.state == PENDING, model.next_attempt_at <= now)
        .values(next_attempt_at=now + lease)
        .returning(*returning)
        .execution_options(synchronize_session=False)
    )
    async with sessions() as session, session.begin():
        return [tuple(row) for row in await session.execute(stmt)]


async def poll(run_round: Callable[[], Awaitable[int]], wake: asyncio.Event, *, interval_s: float, name: str) -> None:
    """Rounds until cancelled: at once again after a round that sent something, else after `interval_s` or a wake-up;
    a round that fails is logged and the wait doubles (up to 30 s) until one succeeds."""
    backoff = interval_s
    while True:
        try:
            sent = await run_round()
            backoff = interval_s
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s round failed: %s: %s", name, type(exc).__name__, exc)
            sent = 0
            backoff = min(backoff * 2, 30.0)
        if sent:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), backoff)
        wake.clear()


# --- channels ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """What a channel is given for one attempt: the row's stable key (webhook-id, Message-ID, idempotency key)."""

    key: str
    body: bytes
    at: dt.datetime


class Channel(Protocol):
    """One way out. Each answers with its own result type: HTTP channels an `AttemptResult` (a status), e-mail a
    `MailResult` (accepted or not, no status)."""

    async def send(self, item: Send) -> Result: ...


class _Poster(Protocol):
    async def post(
        self, url: str, *, msg_id: str, body: bytes, secrets: Sequence[str], now: dt.datetime
    ) -> AttemptResult: ...


class _ChatPoster(Protocol):
    async def post(self, body: bytes, *, idempotency_key: str, now: dt.datetime) -> AttemptResult: ...


class _Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class WebhookChannel:
    """A signed POST of the body (Standard Webhooks) to a contractor's endpoint."""

    poster: Callable[[], _Poster]  # made on first use: building the hub opens no HTTP client
    url: str
    secrets: Sequence[str]

    async def send(self, item: Send) -> AttemptResult:
        return await self.poster().post(self.url, msg_id=item.key, body=item.body, secrets=self.secrets, now=item.at)


@dataclass(frozen=True)
class EmailChannel:
    """An e-mail composed from the row's body by the consumer (what it says is the consumer's business)."""

    mailer: _Mailer
    compose: Callable[[Send], EmailMessage]

    async def send(self, item: Send) -> MailResult:
        return await send_mail(self.mailer.send(self.compose(item)))


@dataclass(frozen=True)
class ChatChannel:
    """A JSON post to the communication team's chat webhook, the row's key as its idempotency key."""

    poster: _ChatPoster
    render: Callable[[Send], bytes]

    async def send(self, item: Send) -> AttemptResult:
        return await self.poster.post(self.render(item), idempotency_key=item.key, now=item.at)


async def reschedule_exhausted(
    session: AsyncSession, model: type[ScheduledRow], *, row_id: int | None = None, now: dt.datetime
) -> int:
    """Send exhausted rows again (one by id, or all): pending, due now, their attempts counted afresh. The body and
    its idempotency key stay the same, so a receiver that got it after all drops the copy. The rows changed."""
    stmt = update(model).where(model.state == EXHAUSTED)
    if row_id is not None:
        stmt = stmt.where(model.id == row_id)
    result = await session.execute(stmt.values(state=PENDING, attempts=0, next_attempt_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


async def state_counts(session: AsyncSession, model: type[ScheduledRow]) -> dict[str, int]:
    """Rows per state."""
    rows = await session.execute(select(model.state, func.count()).group_by(model.state))
    return {str(state): int(n) for state, n in rows}

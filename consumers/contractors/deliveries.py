"""Work orders out to webhooks (Standard Webhooks 1.0) and by e-mail, with attempts scheduled in the database.

The `deliveries` consumer turns each `workorder.issued.*` for a webhook or e-mail assignee into a row of
`deliveries` (inbox-guarded, so once; `scheduling` writes the rows) and acks: the broker delivery is never held
while an endpoint is down. The DeliveryWorker here then runs one loop per endpoint, so a dead endpoint never
delays another:

* claim due rows (an UPDATE ... RETURNING that moves `next_attempt_at` a lease ahead: replicas never send the
  same row at the same time; a crashed sender's lease runs out and the row is tried again, same webhook-id);
* send with at most `delivery_concurrency` requests in flight for that endpoint;
* 2xx: delivered. 410: the endpoint is disabled (its rows wait, `hub deliveries enable` resumes). Anything else
  (3xx is not followed, 4xx, 5xx, timeout): the next attempt per the schedule with jitter, or later when
  `Retry-After` says so; after the last one the row is `exhausted` and kept for `hub deliveries replay`;
* a circuit breaker per endpoint: after `circuit_failure_threshold` consecutive failures no calls for
  `circuit_cooldown_s`, then one probe (half-open) decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.contractors.email import (
    Envelope,
    compose_reminder_email,
    compose_update_email,
    compose_work_order_email,
)
from consumers.contractors.links import LinkSigner
from consumers.contractors.rules import (
    Circuit,
    circuit_state,
    delivery_retry,
    reminder_channel,
)
from consumers.contractors.scheduling import CHANNELS, EVENT_TYPE, REMINDER, UPDATE_EVENT_TYPE
from consumers.contractors.tables import Delivery, DeliveryEndpoint
from consumers.domain.catalogue import Assignee, Catalogue
from contracts import IncidentOrderUpdated, WorkOrderIssued
from infra.clock import aware, utcnow
from infra.db.dialect import insert_ignore
from infra.mailer import Mailer
from infra.sending import (
    EXHAUSTED,
    PENDING,
    Channel,
    EmailChannel,
    Result,
    RetrySchedule,
    Send,
    WebhookChannel,
    claim_due,
    isolated,
    poll,
)
from infra.webhooks import WebhookSender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryConfig:
    schedule_s: Sequence[float]
    concurrency: int = 4
    poll_interval_s: float = 1.0
    failure_threshold: int = 5
    cooldown_s: float = 60.0
    webhook_secrets: dict[str, list[str]] = field(default_factory=dict)
    timeout_s: float = 10.0
    smtp_from: str = "werkbonnen@stad.example.be"
    links: LinkSigner | None = None  # e-mails carry signed one-click answer links for the assignees it signs for
    lease_s: float = 0.0  # 0: derived from the timeouts

    @property
    def lease(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.lease_s or max(60.0, 4 * self.timeout_s))

    @property
    def retry(self) -> RetrySchedule:
        return delivery_retry(self.schedule_s)


@dataclass(frozen=True)
class _Claimed:
    id: int
    delivery_id: str
    work_order_id: str
    channel: str
    body: bytes
    attempts: int
    kind: str = EVENT_TYPE


@dataclass
class _EndpointState:
    failures: int = 0
    open_until: dt.datetime | None = None
    disabled: bool = False
    loaded_failures: int = 0
    outcomes: list[bool] = field(default_factory=list)


class DeliveryWorker:
    """Sends due deliveries, one independent loop per endpoint."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        catalogue: Catalogue,
        config: DeliveryConfig,
        *,
        webhooks: WebhookSender | None = None,
        mailer: Mailer | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._catalogue = catalogue
        self.config = config
        self._webhooks = webhooks  # made on first use: building the hub (e.g. for the AsyncAPI document) opens nothing
        self._mailer = mailer
        self._clock = clock
        self._rng = rng or random.Random()
        # Webhook and e-mail assignees get their work orders here; a queue assignee with an address its reminders.
        self.endpoints = [a for a in catalogue.assignees.values() if reminder_channel(a)]
        self._wake = {a.code: asyncio.Event() for a in self.endpoints}
        self._state = {a.code: _EndpointState() for a in self.endpoints}
        self._tasks: list[asyncio.Task[None]] = []
        self.attempts = 0
        self.delivered = 0

    def configured(self, endpoint: Assignee) -> bool:
        if reminder_channel(endpoint) == "webhook":
            return bool(endpoint.webhook_url and self.config.webhook_secrets.get(endpoint.code))
        return bool(endpoint.email and self._mailer is not None)

    def wake(self, assignee: str | None = None) -> None:
        for code, event in self._wake.items():
            if assignee is None or code == assignee:
                event.set()

    async def start(self) -> None:
        await self.ensure_endpoints()
        for endpoint in self.endpoints:
            if self.configured(endpoint):
                self._tasks.append(asyncio.create_task(self._loop(endpoint), name=f"deliveries-{endpoint.code}"))
            elif endpoint.channel in CHANNELS:
                # Without a secret a webhook cannot be signed, without a server no e-mail sent: nothing goes out.
                log.warning(
                    "%s endpoint of %s is not configured (%s): its deliveries wait",
                    endpoint.channel,
                    endpoint.code,
                    "no secret in HUB_WEBHOOK_SECRETS" if endpoint.channel == "webhook" else "no HUB_SMTP_HOST",
                )

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._webhooks is not None:
            await self._webhooks.aclose()
            self._webhooks = None

    async def ensure_endpoints(self) -> None:
        now = self._clock()
        async with self._sessions() as session, session.begin():
            for endpoint in self.endpoints:
                await session.execute(
                    insert_ignore(session, DeliveryEndpoint).values(
                        assignee=endpoint.code, consecutive_failures=0, updated_at=now
                    )
                )

    async def _loop(self, endpoint: Assignee) -> None:
        await poll(
            lambda: self.run_endpoint_once(endpoint.code),
            self._wake[endpoint.code],
            interval_s=self.config.poll_interval_s,
            name=f"delivery round for {endpoint.code}",
        )

    async def run_once(self) -> int:
        """One round for every endpoint (tests drive the worker with this and an injected clock)."""
        counts = await asyncio.gather(*(self.run_endpoint_once(e.code) for e in self.endpoints))
        return sum(counts)

    async def run_endpoint_once(self, code: str) -> int:
        """Claim and send what is due for one endpoint; the number of attempts made."""
        endpoint = self._catalogue.assignee(code)
        if not self.configured(endpoint):
            return 0
        now = self._clock()
        state = await self._load_state(code)
        if state.disabled:
            return 0
        circuit = circuit_state(state.failures, state.open_until, now, self.config.failure_threshold)
        if circuit == Circuit.OPEN:
            return 0
        limit = 1 if circuit == Circuit.HALF_OPEN else self.config.concurrency * 4
        claimed = await self._claim(code, now, limit)
        if not claimed:
            return 0
        gate = asyncio.Semaphore(self.config.concurrency)
        state.outcomes = []
        released: list[int] = []

        async def attempt(row: _Claimed) -> tuple[_Claimed, Result, dt.datetime] | None:
            async with gate:
                moment = self._clock()
                if (
                    state.disabled
                    or circuit_state(state.failures, state.open_until, moment, self.config.failure_threshold)
                    == Circuit.OPEN
                ):
                    released.append(row.id)  # the circuit opened meanwhile: no call
                    return None
                # One row that raises is that row's failure: the round goes on, every outcome is recorded.
                result = await isolated(self._send(endpoint, row, moment), row=row.delivery_id)
                self._observe(state, result, self._clock())
                return row, result, self._clock()

        done = [r for r in await asyncio.gather(*(attempt(row) for row in claimed)) if r is not None]
        await self._record(endpoint, done, released, state, self._clock())
        return len(done)

    def _observe(self, state: _EndpointState, result: Result, now: dt.datetime) -> None:
        """The endpoint's health as this worker sees it, at once: later attempts of the round depend on it."""
        state.outcomes.append(result.ok)
        if result.ok:
            state.failures, state.open_until = 0, None
        elif result.gone:
            state.disabled = True
        else:
            state.failures += 1
            if state.failures >= self.config.failure_threshold:
                state.open_until = now + dt.timedelta(seconds=self.config.cooldown_s)

    async def _load_state(self, code: str) -> _EndpointState:
        async with self._sessions() as session:
            row = await session.get(DeliveryEndpoint, code)
        state = self._state[code]
        if row is not None:
            state.failures = state.loaded_failures = row.consecutive_failures
            state.open_until = aware(row.open_until)
            state.disabled = row.disabled_at is not None
        return state

    async def _claim(self, code: str, now: dt.datetime, limit: int) -> list[_Claimed]:
        d = Delivery
        rows = await claim_due(
            self._sessions,
            d,
            d.assignee == code,
            now=now,
            lease=self.config.lease,
            limit=limit,
            returning=(d.id, d.delivery_id, d.work_order_id, d.channel, d.body, d.attempts, d.kind),
        )
        return [_Claimed(*r) for r in rows]

    async def _send(self, endpoint: Assignee, row: _Claimed, now: dt.datetime) -> Result:
        self.attempts += 1
        return await self._channel(endpoint, row).send(Send(row.delivery_id, row.body, now))

    def _channel(self, endpoint: Assignee, row: _Claimed) -> Channel:
        """The endpoint's way out: a signed webhook, or an e-mail composed from the work order (or its reminder)."""
        if row.channel == "webhook":
            assert endpoint.webhook_url is not None
            return WebhookChannel(
                self._webhook_sender, endpoint.webhook_url, self.config.webhook_secrets[endpoint.code]
            )
        assert self._mailer is not None
        if row.kind == REMINDER:
            return EmailChannel(self._mailer, lambda item: self._reminder_email(endpoint, item))
        if row.kind == UPDATE_EVENT_TYPE:
            return EmailChannel(self._mailer, lambda item: self._update_email(endpoint, item))
        return EmailChannel(self._mailer, lambda item: self._email(endpoint, item))

    def _webhook_sender(self) -> WebhookSender:
        if self._webhooks is None:
            self._webhooks = WebhookSender(timeout_s=self.config.timeout_s)
        return self._webhooks

    def _email(self, endpoint: Assignee, item: Send) -> EmailMessage:
        order = WorkOrderIssued.model_validate_json(item.body)
        links = self.config.links.links(order.work_order_id, endpoint.code, item.at) if self.config.links else []
        return compose_work_order_email(
            order,
            endpoint,
            self._envelope(endpoint, item),
            links=links,
            page_url=self._page_url(endpoint, item.at),
        )

    def _update_email(self, endpoint: Assignee, item: Send) -> EmailMessage:
        return compose_update_email(
            IncidentOrderUpdated.model_validate_json(item.body),
            endpoint,
            self._envelope(endpoint, item),
        )

    def _envelope(self, endpoint: Assignee, item: Send) -> Envelope:
        """To the endpoint's address; answers go to the department responsible for its contract (or to us)."""
        assert endpoint.email is not None
        reply_to = self.config.smtp_from
        if endpoint.responsible_department:
            reply_to = self._catalogue.assignee(endpoint.responsible_department).email or self.config.smtp_from
        return Envelope(self.config.smtp_from, endpoint.email, reply_to, item.key, item.at)

    def _page_url(self, endpoint: Assignee, at: dt.datetime) -> str | None:
        """The assignee's own page of its orders (`/contractors/`), signed for it, if it has a link secret."""
        signer = self.config.links
        if signer is None or not signer.signs_for(endpoint.code):
            return None
        return signer.page_url(signer.page_token(endpoint.code, at))

    def _reminder_email(self, endpoint: Assignee, item: Send) -> EmailMessage:
        data = json.loads(item.body)["data"]
        links = []
        if self.config.links is not None and endpoint.channel == "email":
            # Only steps still possible from the order's status when the reminder was made.
            links = self.config.links.links(data["work_order_id"], endpoint.code, item.at)
        return compose_reminder_email(
            data,
            endpoint,
            self._envelope(endpoint, item),
            links=links,
            page_url=self._page_url(endpoint, item.at),
        )

    async def _record(
        self,
        endpoint: Assignee,
        done: list[tuple[_Claimed, Result, dt.datetime]],
        released: list[int],
        state: _EndpointState,
        now: dt.datetime,
    ) -> None:
        """One transaction per round: the deliveries' outcomes and the endpoint's health.

        Long because the rows' outcomes and the endpoint's health (failures, circuit, 410 Gone) are written in one transaction, so replicas never see one without the other.
        """
        rows: list[dict[str, object]] = []
        for row, result, at in done:
            # A 410 is not this delivery's fault: it waits, with the others, until the endpoint is enabled again.
            values = self.config.retry.attempt_values(row.attempts, result, at, rng=self._rng, hold=result.gone)
            if result.gone:
                values["last_error"] = "410 Gone: endpoint disabled"
            elif values["state"] == EXHAUSTED:
                log.error(
                    "delivery %s to %s exhausted after %d attempts", row.delivery_id, endpoint.code, row.attempts + 1
                )
            rows.append({"id": row.id} | values)
        ep = DeliveryEndpoint.__table__.c
        where = ep.assignee == endpoint.code
        outcomes = state.outcomes
        async with self._sessions() as session, session.begin():
            if rows:
                await session.execute(update(Delivery), rows)
            if released:
                await session.execute(
                    update(Delivery)
                    .where(Delivery.id.in_(released), Delivery.state == PENDING)
                    .values(next_attempt_at=now)
                )
            if any(not r.ok and r.gone for _, r, _ in done):
                await session.execute(
                    update(DeliveryEndpoint)
                    .where(where)
                    .values(
                        disabled_at=now, disabled_reason=f"HTTP 410 Gone from {endpoint.webhook_url}", updated_at=now
                    )
                )
                log.error("endpoint of %s answered 410 Gone: disabled", endpoint.code)
            failed = [r for _, r, _ in done if not r.ok and not r.gone]
            if True in outcomes:
                # Consecutive failures: those after the round's last success.
                tail = len(outcomes) - 1 - outcomes[::-1].index(True)
                failures_after = sum(1 for ok in outcomes[tail + 1 :] if not ok)
                if failures_after or state.loaded_failures:
                    await session.execute(
                        update(DeliveryEndpoint)
                        .where(where)
                        .values(consecutive_failures=failures_after, open_until=None, updated_at=now)
                    )
                total = failures_after
            elif failed:
                # An atomic increment: replicas never lose each other's failures.
                total = (
                    await session.execute(
                        update(DeliveryEndpoint)
                        .where(where)
                        .values(consecutive_failures=ep.consecutive_failures + len(failed), updated_at=now)
                        .returning(ep.consecutive_failures)
                    )
                ).scalar_one()
            else:
                total = 0
            if total >= self.config.failure_threshold:
                state.open_until = now + dt.timedelta(seconds=self.config.cooldown_s)
                await session.execute(update(DeliveryEndpoint).where(where).values(open_until=state.open_until))
        self.delivered += sum(1 for _, r, _ in done if r.ok)

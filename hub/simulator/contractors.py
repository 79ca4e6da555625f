"""Simulated assignees: they read the work orders the hub issued on their queues and answer, each by its channel.

Each `workorders.<assignee>` queue is consumed; every `workorder.issued.<assignee>` gets its answer planned
(`answers.plan_answer`, in event time) and its steps sent when the simulation's event time reaches them: the
event clock is the latest report filing seen among the issued orders, so an order is answered as the year it
belongs to goes by, and what lies after the end of the simulated period is never sent (those orders stay open
as they would be on that day). Each assignee answers by its own channel, as the real ones do:

* `queue` assignees publish `workorder.status` on the broker (as the broker user of the URL they are given);
* `webhook` assignees call the signed status callback of `hub serve` with their webhook secret;
* `email` assignees follow the one-click link their e-mail carries: the simulation signs the same link with the
  assignee's link secret (instead of reading the mail) and confirms it with the change's own time.

An assignee without the secret its channel needs cannot answer: its orders stay open (counted in `skipped`).
For a development hub only: consuming an assignee's queue takes its work orders away from anyone else reading it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import heapq
import itertools
import logging
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import aio_pika
import httpx
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from pydantic import ValidationError

from consumers.contractors.links import LinkSigner
from consumers.domain.catalogue import Assignee, Catalogue
from contracts import WorkOrderIssued, WorkOrderStatusChanged
from hub.simulator.answers import AnswerProfile, Step, plan_answer
from infra import amqp
from infra.broker_admin import credentials_of
from infra.topology import CITY_EVENTS, workorder_queue_name, workorder_routing_key
from infra.webhooks import generate_secret, signed_headers

log = logging.getLogger(__name__)

ISSUED_PREFIX = workorder_routing_key("")


# What became of a simulated answer (`SimulatedAssignees._send`).
APPLIED, NOT_APPLIED, REFUSED = "applied", "not_applied", "refused"


@dataclass
class Tally:
    """What the simulated assignees did: orders seen, steps sent, refused, never sent."""

    orders: int = 0
    copies: int = 0  # the same work order again (the relay publishes at least once)
    sent: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    # answers that crossed the hub's merge (sent before the incident order said so): recorded by the hub, not applied
    crossed: int = 0
    merged: int = 0  # steps not sent: the order was merged into an incident order meanwhile (`merged_work_order_ids`)
    skipped: int = 0  # orders whose assignee has no way to answer (no secret for its channel)
    unanswered: int = 0  # steps after the end of the simulated period (or never planned): left open


@dataclass(order=True)
class _Due:
    at: dt.datetime
    n: int
    order: WorkOrderIssued = field(compare=False)
    steps: list[Step] = field(compare=False)


class SimulatedContractors:
    """Consumes the assignees' queues and answers each work order in event time (see the module's docstring)."""

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        amqp_url: str,
        tz: ZoneInfo,
        http: httpx.AsyncClient,
        webhook_secrets: Mapping[str, Sequence[str]],
        links: LinkSigner | None,
        seed: int = 2021,
        profile: AnswerProfile | None = None,
        concurrency: int = 16,
        assignees: Sequence[str] | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.amqp_url = amqp_url
        self.tz = tz
        self.http = http
        self.webhook_secrets = webhook_secrets
        self.links = links
        self.seed = seed
        self.profile = profile or AnswerProfile()
        self.assignees = [catalogue.assignee(code) for code in (assignees or list(catalogue.assignees))]
        self.tally = Tally()
        self.clock: dt.datetime | None = None  # event time reached: the latest filing among the issued orders
        self.last_received = 0.0
        self._heap: list[_Due] = []
        self._seen: set[str] = set()
        self._merged: set[str] = set()  # orders an incident order replaced: a contractor does not do them separately
        self._counter = itertools.count()
        self._wake = asyncio.Event()
        self._gate = asyncio.Semaphore(concurrency)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._connection: AbstractRobustConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False
        self._user = credentials_of(amqp_url)[0]

    def can_answer(self, assignee: Assignee) -> bool:
        if assignee.channel == "webhook":
            return bool(self.webhook_secrets.get(assignee.code))
        if assignee.channel == "email":
            return self.links is not None and self.links.signs_for(assignee.code)
        return True

    async def start(self) -> None:
        self._connection = await amqp.connect_robust(self.amqp_url, "simulated-contractors")
        publishing = await self._connection.channel(publisher_confirms=True)
        self._exchange = await publishing.get_exchange(CITY_EVENTS.name, ensure=False)
        consuming = await self._connection.channel()
        await consuming.set_qos(prefetch_count=256)
        for assignee in self.assignees:
            if not self.can_answer(assignee):
                log.warning("simulated %s cannot answer by %s (no secret): its orders stay open", assignee.code,
                            assignee.channel)  # fmt: skip
            queue = await consuming.declare_queue(workorder_queue_name(assignee.code), passive=True)
            await queue.consume(self._receive)
        self.last_received = asyncio.get_running_loop().time()
        self._runner = asyncio.create_task(self._run(), name="simulated-contractors")

    async def _receive(self, message: AbstractIncomingMessage) -> None:
        async with message.process():
            loop = asyncio.get_running_loop()
            self.last_received = loop.time()
            if not (message.routing_key or "").startswith(ISSUED_PREFIX):
                return  # an escalation or an erasure notice: nothing to answer
            try:
                order = WorkOrderIssued.model_validate_json(message.body)
            except ValidationError:
                log.warning("not a work order on %s: ignored", message.routing_key)
                return
            if order.work_order_id in self._seen:
                # The outbox relay publishes at least once: a second copy of an order is answered once.
                self.tally.copies += 1
                return
            self._seen.add(order.work_order_id)
            self.tally.orders += 1
            if order.incident is not None:
                self._merged.update(order.incident.merged_work_order_ids)
            filed = order.report_filed_at or order.issued_at
            if self.clock is None or filed > self.clock:
                self.clock = filed
            assignee = self.catalogue.assignees.get(order.assignee)
            if assignee is None or not self.can_answer(assignee):
                self.tally.skipped += 1
                return
            steps = plan_answer(order, ack_hours=assignee.ack_hours, tz=self.tz, seed=self.seed, profile=self.profile)
            if not steps:
                self.tally.unanswered += 1
                return
            heapq.heappush(self._heap, _Due(steps[0].at, next(self._counter), order, steps))
            self._wake.set()

    async def _run(self) -> None:
        while not self._stopping:
            await self._send_due()
            self._wake.clear()
            # asyncio.timeout, not wait_for: Python 3.11's wait_for may swallow a cancellation that comes as the
            # event is set (the runner then never stopped).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await self._wake.wait()

    async def _send_due(self) -> None:
        while self._heap and self.clock is not None and self._heap[0].at <= self.clock:
            due = heapq.heappop(self._heap)
            await self._gate.acquire()
            task = asyncio.create_task(self._answer(due))
            self._in_flight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._gate.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("simulated answer failed: %s", task.exception())

    async def _answer(self, due: _Due) -> None:
        if due.order.work_order_id in self._merged:
            self.tally.merged += len(due.steps)
            return
        step, rest = due.steps[0], due.steps[1:]
        assignee = self.catalogue.assignee(due.order.assignee)
        change = WorkOrderStatusChanged(
            work_order_id=due.order.work_order_id,
            assignee=assignee.code,
            status=step.status,
            changed_at=step.at,
            planned_for=step.planned_for,
            reason=step.reason,
        )
        message_id = f"sim-{due.order.work_order_id}-{step.status.value}"
        outcome = await self._send(assignee, change, message_id)
        if outcome == REFUSED:
            self.tally.refused += 1
        else:
            self.tally.sent[assignee.channel] += 1
            self.tally.crossed += outcome == NOT_APPLIED
        if rest:
            heapq.heappush(self._heap, _Due(rest[0].at, next(self._counter), due.order, rest))
            self._wake.set()

    async def _send(self, assignee: Assignee, change: WorkOrderStatusChanged, message_id: str) -> str:
        """Send one change by the assignee's channel: APPLIED, NOT_APPLIED (the order was merged into an incident
        order meanwhile: the hub recorded it) or REFUSED. Retries what is transient."""
        for attempt in range(8):
            try:
                if assignee.channel == "webhook":
                    status, answer = await self._callback(assignee, change, message_id)
                elif assignee.channel == "email":
                    status, answer = await self._link(assignee, change)
                else:
                    await self._publish(change, message_id)
                    return APPLIED
            except (httpx.TransportError, aio_pika.exceptions.AMQPError, ConnectionError, TimeoutError) as exc:
                log.warning("simulated answer %s: %s (attempt %d)", message_id, exc, attempt + 1)
                await asyncio.sleep(min(10.0, 0.5 * 2**attempt))
                continue
            if status in (503, 429):
                await asyncio.sleep(min(10.0, 0.5 * 2**attempt))
                continue
            if status >= 300:
                log.warning("simulated answer %s refused: HTTP %d", message_id, status)
                return REFUSED
            return answer
        return REFUSED

    async def _publish(self, change: WorkOrderStatusChanged, message_id: str) -> None:
        assert self._exchange is not None
        await self._exchange.publish(
            aio_pika.Message(
                change.model_dump_json().encode(),
                message_id=message_id,
                user_id=self._user,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=WorkOrderStatusChanged.routing_key,
            mandatory=True,
            timeout=30,
        )

    async def _callback(self, assignee: Assignee, change: WorkOrderStatusChanged, message_id: str) -> tuple[int, str]:
        body = change.model_dump_json().encode()
        now = int(dt.datetime.now(dt.UTC).timestamp())
        headers = signed_headers(self.webhook_secrets[assignee.code], message_id, now, body)
        headers["content-type"] = "application/json"
        answer = await self.http.post(f"/contractors/{assignee.code}/workorder-status", content=body, headers=headers)
        crossed = answer.status_code == 200 and answer.json().get("status") == "not_applied"
        return answer.status_code, NOT_APPLIED if crossed else APPLIED

    async def _link(self, assignee: Assignee, change: WorkOrderStatusChanged) -> tuple[int, str]:
        assert self.links is not None
        token = self.links.token(change.work_order_id, assignee.code, change.status, dt.datetime.now(dt.UTC))
        form = {"changed_at": change.changed_at.isoformat()}
        if change.planned_for is not None:
            form["planned_for"] = change.planned_for.isoformat()
        if change.reason is not None:
            form["reason"] = change.reason
        answer = await self.http.post(f"/contractors/links/{token}", data=form)
        if answer.status_code == 409 and "Al gebeurd" in answer.text:
            return 200, APPLIED  # the same step confirmed again (a retried request): it is applied once
        crossed = answer.status_code == 200 and "Opgenomen in een incidentwerkbon" in answer.text
        return answer.status_code, NOT_APPLIED if crossed else APPLIED

    def idle_for(self) -> float:
        return asyncio.get_running_loop().time() - self.last_received

    async def settle(
        self, idle_s: float, *, upstream: Sequence[str] = ("hub.router",), timeout_s: float = 7200
    ) -> None:
        """Wait until the hub has issued everything: the `upstream` queues and the assignees' queues are empty and
        no work order came for `idle_s` seconds (a queue's count leaves out what a consumer holds unacknowledged,
        and the outbox relay publishes after the router's commit)."""
        assert self._connection is not None
        channel = await self._connection.channel()
        names = [*upstream, *(workorder_queue_name(a.code) for a in self.assignees)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        try:
            while loop.time() < deadline:
                waiting = 0
                for name in names:
                    queue = await channel.declare_queue(name, passive=True)
                    waiting += queue.declaration_result.message_count or 0
                if not waiting and self.idle_for() >= idle_s:
                    return
                await asyncio.sleep(1.0)
            raise TimeoutError(f"the hub did not issue everything within {timeout_s:.0f} s")
        finally:
            await channel.close()

    async def finish(self, until: dt.datetime) -> Tally:
        """Send every step up to `until` (the end of the simulated period); later ones stay unsent."""
        if self.clock is None or self.clock < until:
            self.clock = until
        self._wake.set()
        while any(d.at <= until for d in self._heap) or self._in_flight:
            await self._send_due()
            if self._in_flight:
                await asyncio.wait(set(self._in_flight))
            else:
                await asyncio.sleep(0)
        self.tally.unanswered += sum(len(d.steps) for d in self._heap)
        return self.tally

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        for task in list(self._in_flight):
            task.cancel()
        if self._connection is not None:
            await self._connection.close()

    def summary(self) -> str:
        t = self.tally
        by = ", ".join(f"{n} by {channel}" for channel, n in sorted(t.sent.items())) or "none"
        return (
            f"simulated assignees: {t.orders} work orders read ({t.copies} copies ignored), {sum(t.sent.values())} answers sent ({by}), "
            f"{t.refused} refused, {t.crossed} to orders merged meanwhile (recorded, not applied), {t.merged} dropped as merged into an incident order, {t.unanswered} steps left open at the end, {t.skipped} orders without a channel"
        )


def simulated_secrets(catalogue: Catalogue) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """New webhook and link secrets for every webhook and e-mail assignee, for one demo run."""
    webhooks = {a.code: [generate_secret()] for a in catalogue.assignees.values() if a.channel == "webhook"}
    links = {a.code: [secrets.token_urlsafe(32)] for a in catalogue.assignees.values() if a.channel == "email"}
    return webhooks, links

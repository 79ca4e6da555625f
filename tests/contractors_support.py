"""Test helpers for the contractors package: a local HTTP receiver, a real SMTP server, a clock, catalogues, vhosts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import email.policy
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.settings import CONFIG_DIR
from infra.broker_admin import HttpBrokerAdmin, Permissions, credentials_of

# --- a clock tests move by hand -------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)

    def set(self, moment: dt.datetime) -> None:
        self.now = moment


# --- a local HTTP server the test controls ---------------------------------------------------------------------------


@dataclass
class Received:
    endpoint: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


Behaviour = Callable[[Received], Awaitable[Response] | Response]


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 (uvicorn): `/hooks/{endpoint}` answers as `behaviour[endpoint]` says."""

    requests: list[Received] = field(default_factory=list)
    behaviour: dict[str, Behaviour] = field(default_factory=dict)
    port: int = 0
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    def url(self, endpoint: str) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{endpoint}"

    def calls(self, endpoint: str) -> list[Received]:
        return [r for r in self.requests if r.endpoint == endpoint]

    async def _handle(self, request: Request) -> Response:
        endpoint = request.path_params.get("endpoint", "")
        received = Received(endpoint, request.url.path, dict(request.headers), await request.body(), time.monotonic())
        self.requests.append(received)
        answer = self.behaviour.get(endpoint)
        if answer is None:
            return Response(status_code=204)
        result = answer(received)
        return await result if isinstance(result, Awaitable) else result

    async def start(self) -> Receiver:
        app = Starlette(
            routes=[
                Route("/hooks/{endpoint}", self._handle, methods=["POST"]),
                Route("/elsewhere/{endpoint}", self._handle, methods=["POST", "GET"]),
            ]
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="critical", lifespan="off", access_log=False, timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        for _ in range(1000):
            if self._server.started:
                break
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)


def status(code: int, headers: dict[str, str] | None = None) -> Behaviour:
    return lambda _: Response(status_code=code, headers=headers)


def hang(seconds: float) -> Behaviour:
    async def answer(_: Received) -> Response:
        await asyncio.sleep(seconds)
        return Response(status_code=200)

    return answer


# --- a real SMTP server ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpSink:
    """aiosmtpd on 127.0.0.1: keeps every message it accepts; can refuse for a while (`refuse = True`)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.refuse = False
        self._lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "451 4.3.0 try again later"
        content: bytes = envelope.original_content or envelope.content
        with self._lock:
            self.raw.append(content)
            self.messages.append(email.message_from_bytes(content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"

    async def start(self) -> SmtpSink:
        await asyncio.to_thread(self.controller.start)
        return self

    async def stop(self) -> None:
        await asyncio.to_thread(self.controller.stop)


# --- catalogues -----------------------------------------------------------------------------------------------------


def write_assignees(path: Path, *, changes: dict[str, dict[str, Any]], extra: str = "") -> Path:
    """The default assignees.yaml with some fields of some assignees changed, plus extra entries."""
    text = (CONFIG_DIR / "assignees.yaml").read_text(encoding="utf-8")
    blocks = re.split(r"(?m)^(?=  - code: )", text)
    out = []
    for block in blocks:
        match = re.match(r"  - code: (\w+)", block)
        if match and match.group(1) in changes:
            for key, value in changes[match.group(1)].items():
                line = f"    {key}: {value}"
                if re.search(rf"(?m)^    {key}: .*$", block):
                    block = re.sub(rf"(?m)^    {key}: .*$", line, block)
                else:
                    block = block.rstrip("\n") + "\n" + line + "\n\n"
        out.append(block)
    path.write_text("".join(out).rstrip("\n") + "\n" + extra, encoding="utf-8")
    return path


# --- broker vhosts and users ----------------------------------------------------------------------------------------


def with_vhost(amqp_url: str, vhost: str) -> str:
    parts = urlsplit(amqp_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), parts.query, parts.fragment))


def with_credentials(amqp_url: str, user: str, password: str) -> str:
    parts = urlsplit(amqp_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{quote(user, safe='')}:{quote(password, safe='')}@{host}", parts.path, "", ""))


MANAGEMENT_URL = "http://127.0.0.1:15672"


@contextlib.asynccontextmanager
async def scratch_vhost(amqp_url: str, label: str) -> AsyncIterator[str]:
    """A vhost of its own for one test (the admin user gets full rights in it), deleted afterwards."""
    user, password = credentials_of(amqp_url)
    admin = HttpBrokerAdmin(MANAGEMENT_URL, user, password)
    vhost = f"{label}-{uuid.uuid4().hex[:8]}"
    try:
        await admin.add_vhost(vhost)
        await admin.set_permissions(vhost, user, Permissions(".*", ".*", ".*"))
        yield vhost
    finally:
        await admin.delete_vhost(vhost)
        await admin.aclose()


# --- work orders written straight into the router's tables ---------------------------------------------------------


async def add_order(
    sessions: Any,
    *,
    assignee: str,
    due: dt.date,
    issued_at: dt.datetime,
    status: str = "issued",
    category: str = "road.damage",
    description: str = "Diep gat in de weg",
    reporter_name: str | None = None,
    reporter_phone: str | None = None,
    run: str = "",
) -> str:
    """A report and its one work order as the router would have stored them; the work order id."""
    from consumers.router.tables import Report, WorkOrder
    from consumers.router.workorders import work_order_id

    report_id = f"rep-{run or uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:6]}"
    wid = work_order_id(report_id, assignee)
    async with sessions() as session, session.begin():
        session.add(
            Report(
                report_id=report_id, message_id=report_id, filed_at=issued_at - dt.timedelta(minutes=5),
                received_at=issued_at, channel="web", category=category, category_known=True, street="Stapelstraat",
                house_number="12", postcode="3800", district="Sint-Truiden", description=description,
                reporter_name=reporter_name, reporter_phone=reporter_phone, rule_id="test", rules_version="test",
            )
        )  # fmt: skip
        await session.flush()
        session.add(
            WorkOrder(
                work_order_id=wid, report_id=report_id, assignee=assignee, category=category, status=status,
                issued_at=issued_at, due_date=due, rule_id="test", includes_contact=False, updated_at=issued_at,
            )
        )  # fmt: skip
    return wid

"""The contractors' status callback refuses big or unsigned bodies before reading them, and reads any body
streamed with a hard limit: a gigabyte sent without headers never fills the server's memory."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from consumers.contractors.http import MAX_BODY
from hub.http import create_http_app
from hub.settings import ContractorsSettings, Settings

pytestmark = pytest.mark.integration

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PATH = "/contractors/waste_company/workorder-status"
GIB = 1 << 30


class Stream:
    """A request body that counts what the server pulled of it."""

    def __init__(self, total: int, chunk: int = 1 << 20) -> None:
        self.total = total
        self.block = b"x" * chunk
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            self.sent += len(self.block)
            yield self.block


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def signed(body: bytes, msg_id: str | None = None) -> dict[str, str]:
    msg_id = msg_id or f"cb-{uuid.uuid4().hex}"
    now = dt.datetime.now(dt.UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(msg_id, now, body.decode()),
    }


@contextlib.asynccontextmanager
async def callback_client(postgres_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        amqp_url="amqp://guest:guest@127.0.0.1:1/",
        database_url=postgres_url,
        contractors=ContractorsSettings(webhook_secrets={"waste_company": [SECRET]}),
    )
    app = create_http_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub", timeout=60) as client,
    ):
        yield client


async def test_big_or_unsigned_bodies_are_refused_before_they_are_read(postgres_url: str) -> None:
    async with callback_client(postgres_url) as client:
        before = rss_bytes()

        # A gigabyte without any header: refused on the headers, next to nothing of it read.
        unsigned = Stream(GIB)
        answer = await client.post(PATH, content=unsigned)
        assert answer.status_code == 401, answer.text
        assert "missing" in answer.json()["error"]
        assert unsigned.sent <= 1 << 20, unsigned.sent

        # Signed headers, but no Content-Length (chunked): 411, not read.
        chunked = Stream(GIB)
        answer = await client.post(PATH, content=chunked, headers=signed(b"{}"))
        assert answer.status_code == 411, answer.text
        assert chunked.sent <= 1 << 20, chunked.sent

        # An announced gigabyte: 413 on the header.
        announced = Stream(GIB)
        headers = {**signed(b"{}"), "content-length": str(GIB)}
        answer = await client.post(PATH, content=announced, headers=headers)
        assert answer.status_code == 413, answer.text
        assert announced.sent <= 1 << 20, announced.sent

        # A small announced length and a gigabyte sent: cut off once past the limit, in small chunks.
        lying = Stream(GIB, chunk=16 * 1024)
        headers = {**signed(b"{}"), "content-length": "100"}
        answer = await client.post(PATH, content=lying, headers=headers)
        assert answer.status_code == 413, answer.text
        assert MAX_BODY < lying.sent <= MAX_BODY + 16 * 1024, lying.sent

        assert rss_bytes() - before < 64 << 20, "the server's memory grew by the body"

        # A signed body within the limit still goes the status path: an unknown work order is refused (409).
        body = json.dumps(
            {
                "work_order_id": f"wo-{uuid.uuid4().hex}",
                "assignee": "waste_company",
                "status": "accepted",
                "changed_at": dt.datetime.now(dt.UTC).isoformat(),
            }
        ).encode()
        answer = await client.post(PATH, content=body, headers=signed(body))
        assert answer.status_code == 409, answer.text
        assert "unknown work order" in answer.json()["error"]
        # A tampered body fails the signature after it is read.
        answer = await client.post(PATH, content=body.replace(b"accepted", b"rejected"), headers=signed(body))
        assert answer.status_code == 401, answer.text

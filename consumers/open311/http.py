"""`/open311/v2/`: Open311 GeoReport v2 (and FixMyStreet's `servicerequestupdates`) as a FastAPI `APIRouter`.

Every resource in XML and JSON (`.xml` / `.json`; service codes contain dots, only the last suffix is the
format), errors in the spec's format with 400 / 403 / 404, the configured `jurisdiction_id` checked where given.
The composition root `provide`s an `Open311Api` and includes `router` (docs/http.md); it starts and stops the
API's relay (`start`, `aclose`) with the app.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import Response

from consumers.open311 import documents
from consumers.open311.formats import Open311Error, error_response, render, split_format
from consumers.open311.intake import Form, Intake
from consumers.open311.keys import ApiKeys
from consumers.open311.queries import RequestFilter, Requests
from consumers.open311.settings import Open311Settings
from consumers.router.handler import RoutingService
from infra.clock import utcnow
from infra.errors import is_transient
from infra.http.deps import service
from infra.http.openapi import request_body
from infra.relay import OutboxRelay

log = logging.getLogger("hub.open311")

MAX_BODY = 64 * 1024
PREFIX = "/open311/v2"


@dataclass
class Open311Api:
    """What the endpoints need: the settings, the intake (POST), the read side and the API keys."""

    settings: Open311Settings
    routing: RoutingService
    sessions: async_sessionmaker[AsyncSession]
    timezone: str = "Europe/Brussels"
    relay: OutboxRelay | None = None
    clock: Callable[[], dt.datetime] = utcnow
    started_at: dt.datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        self.intake = Intake(self.settings, self.sessions, self.routing, relay=self.relay, clock=self.clock)
        self.requests = Requests(self.sessions, self.routing.catalogue, self.timezone)
        self.keys = ApiKeys(self.sessions)

    async def start(self) -> None:
        """Start the relay accepted requests are handed to; without a broker they wait for any relay's sweep."""
        if self.relay is None:
            return
        try:
            await self.relay.start()
        except Exception as exc:
            log.warning("open311: outbox relay not started", extra={"error": type(exc).__name__})

    async def aclose(self) -> None:
        if self.relay is not None and self.relay.running:
            await self.relay.stop()

    def check_jurisdiction(self, value: str | None) -> None:
        if value is not None and value.strip() and value.strip() != self.settings.jurisdiction_id:
            raise Open311Error(
                404, f"jurisdiction_id '{value}' was not found (this server is '{self.settings.jurisdiction_id}')"
            )


def parse_time(value: str | None, name: str) -> dt.datetime | None:
    """A w3 ISO 8601 date-time with `Z` or an offset; a naive one is refused."""
    if value is None or not value.strip():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise Open311Error(400, f"{name} is not an ISO 8601 date and time (e.g. 2026-12-03T09:00:00+01:00)") from None
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} must carry Z or an offset from UTC")
    return parsed


def _listing(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def time_range(api: Open311Api, start_raw: str | None, end_raw: str | None) -> tuple[dt.datetime, dt.datetime]:
    """[start, end] at most `max_days` apart; the most recent `max_days` when neither is given."""
    span = dt.timedelta(days=api.settings.max_days)
    start, end = parse_time(start_raw, "start_date"), parse_time(end_raw, "end_date")
    if start is not None and end is not None:
        if end < start:
            raise Open311Error(400, "end_date is before start_date")
        if end - start > span:
            raise Open311Error(400, f"start_date and end_date may be at most {api.settings.max_days} days apart")
    elif start is not None:
        end = start + span
    elif end is not None:
        start = end - span
    else:
        end = api.clock()
        start = end - span
    assert start is not None
    assert end is not None
    return start, end


async def _answer(fmt: str, make: Callable[[], Awaitable[Response]]) -> Response:
    try:
        return await make()
    except Open311Error as exc:
        return error_response(fmt, [exc])
    except Exception as exc:
        if not is_transient(exc):
            raise
        log.warning("open311: database or broker unavailable", extra={"error": type(exc).__name__})
        response = error_response(fmt, [Open311Error(503, "temporarily unavailable, try again later")])
        response.headers["retry-after"] = "30"
        return response


def _format_of(name: str) -> str:
    """The format of `discovery.json` and the like; an unknown one is answered in XML, the required format."""
    try:
        return split_format(name)[1]
    except Open311Error:
        return "xml"


class ServiceRequestForm(BaseModel):
    """POST requests, form-encoded (the route reads it itself). Answers to the service's extra questions come as
    `attribute[code]=value` (and `attribute[code][]=value`, repeated, for a multivaluelist)."""

    api_key: str = Field(description="The client's key (hub open311 keys add NAME).")
    service_code: str = Field(description="A service_code of GET services, e.g. lighting.defect.")
    jurisdiction_id: str | None = Field(default=None, description="If given, this server's jurisdiction_id.")
    lat: float | None = Field(default=None, description="WGS84 latitude; with long, or address_string.")
    long: float | None = Field(default=None, description="WGS84 longitude.")
    address_string: str | None = Field(default=None, description="e.g. 'Stapelstraat 12, 3800 Sint-Truiden'.")
    address_id: str | None = Field(default=None, description="Not known here: send lat/long or address_string too.")
    description: str | None = Field(default=None, max_length=4000)
    media_url: str | None = None
    email: str | None = Field(default=None, description="Personal data: reaches only who may see it.")
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    device_id: str | None = None
    account_id: str | None = None


Api = Annotated[Open311Api, Depends(service(Open311Api))]
router = APIRouter(prefix=PREFIX, tags=["open311"])


@router.get("/discovery.{fmt}", summary="Service discovery")
async def get_discovery(api: Api, fmt: str) -> Response:
    async def make() -> Response:
        split_format(f"discovery.{fmt}")
        return render(fmt, "discovery", None, documents.discovery(api.settings, api.started_at))

    return await _answer(_format_of(f"x.{fmt}"), make)


@router.get("/services.{fmt}", summary="The service list: the category catalogue")
async def get_services(api: Api, fmt: str, jurisdiction_id: str | None = None) -> Response:
    async def make() -> Response:
        split_format(f"services.{fmt}")
        api.check_jurisdiction(jurisdiction_id)
        return render(fmt, "services", "service", documents.services(api.routing.catalogue))

    return await _answer(_format_of(f"x.{fmt}"), make)


@router.get("/services/{name}", summary="A service definition: the category's extra questions")
async def get_service_definition(api: Api, name: str, jurisdiction_id: str | None = None) -> Response:
    async def make() -> Response:
        code, fmt = split_format(name)
        api.check_jurisdiction(jurisdiction_id)
        category = api.routing.catalogue.category(code)
        if category is None:
            raise Open311Error(404, f"service_code '{code}' was not found")
        return render(fmt, "service_definition", None, documents.definition(category))

    return await _answer(_format_of(name), make)


@router.post(
    "/requests.{fmt}",
    summary="File a service request (form-encoded, api_key required)",
    status_code=201,
    openapi_extra=request_body(ServiceRequestForm, media_type="application/x-www-form-urlencoded"),
)
async def post_request(api: Api, fmt: str, request: Request) -> Response:
    async def make() -> Response:
        split_format(f"requests.{fmt}")
        body = await request.body()
        if len(body) > MAX_BODY:
            raise Open311Error(400, f"the request body is larger than {MAX_BODY} bytes")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise Open311Error(400, "the request body is not UTF-8") from None
        form = Form.parse(pairs)
        api.check_jurisdiction(form.get("jurisdiction_id"))
        client = await api.keys.client_of(form.get("api_key"))
        if client is None:
            raise Open311Error(403, "api_key was not provided or is not valid")
        accepted = await api.intake.submit(client, form)
        log.info(
            "open311 request accepted",
            extra={"service_request_id": accepted.service_request_id, "client": client, "resent": accepted.resent},
        )
        document = {
            "service_request_id": accepted.service_request_id,
            "service_notice": accepted.service_notice,
            "account_id": accepted.account_id,
        }
        return render(fmt, "service_requests", "request", [document], status=201)

    return await _answer(_format_of(f"x.{fmt}"), make)


@router.get("/requests.{fmt}", summary="Service requests, with filters")
async def get_requests(
    api: Api,
    fmt: str,
    jurisdiction_id: str | None = None,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
) -> Response:
    async def make() -> Response:
        split_format(f"requests.{fmt}")
        api.check_jurisdiction(jurisdiction_id)
        ids = _listing(service_request_id)
        statuses = tuple(s.lower() for s in _listing(status))
        unknown = set(statuses) - {"open", "closed"}
        if unknown:
            raise Open311Error(400, f"status must be open or closed, not {', '.join(sorted(unknown))}")
        start, end = (None, None) if ids else time_range(api, start_date, end_date)
        found = await api.requests.find(
            RequestFilter(
                ids=ids,
                service_codes=_listing(service_code),
                start=start,
                end=end,
                statuses=statuses,
                limit=api.settings.max_requests,
            )
        )
        return render(fmt, "service_requests", "request", found)

    return await _answer(_format_of(f"x.{fmt}"), make)


@router.get("/requests/{name}", summary="One service request")
async def get_request(api: Api, name: str, jurisdiction_id: str | None = None) -> Response:
    async def make() -> Response:
        request_id, fmt = split_format(name)
        api.check_jurisdiction(jurisdiction_id)
        found = await api.requests.find(RequestFilter(ids=(request_id,), limit=1))
        if not found:
            raise Open311Error(404, f"service_request_id '{request_id}' was not found")
        return render(fmt, "service_requests", "request", found)

    return await _answer(_format_of(name), make)


@router.get("/tokens/{name}", summary="A token's service request (requests here are realtime)")
async def get_token(api: Api, name: str, jurisdiction_id: str | None = None) -> Response:
    async def make() -> Response:
        token, fmt = split_format(name)
        api.check_jurisdiction(jurisdiction_id)
        found = await api.requests.token(token)
        if found is None:
            raise Open311Error(404, f"token '{token}' was not found")
        return render(fmt, "service_requests", "request", [found])

    return await _answer(_format_of(name), make)


@router.get("/servicerequestupdates.{fmt}", summary="FixMyStreet: one update per applied status change")
async def get_updates(
    api: Api, fmt: str, jurisdiction_id: str | None = None, start_date: str | None = None, end_date: str | None = None
) -> Response:
    async def make() -> Response:
        split_format(f"servicerequestupdates.{fmt}")
        api.check_jurisdiction(jurisdiction_id)
        start, end = time_range(api, start_date, end_date)
        found = await api.requests.updates(start, end, api.settings.max_requests)
        return render(fmt, "service_request_updates", "request_update", found)

    return await _answer(_format_of(f"x.{fmt}"), make)

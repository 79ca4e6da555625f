"""POST requests: an Open311 form becomes a `ReportFiled`, stored with its request and written to the outbox in
one transaction, answered only after the commit; an identical resend within the window gets the same id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.domain.attributes import AnswerError, check_answers
from consumers.domain.catalogue import Category
from consumers.domain.places import PlaceFinder
from consumers.open311.formats import Open311Error
from consumers.open311.notice import service_notice
from consumers.open311.settings import Open311Settings
from consumers.open311.tables import Open311ApiKey, Open311Request
from consumers.router.handler import RoutingService
from consumers.router.workorders import mask_contact
from contracts import ReportFiled
from infra.clock import utcnow
from infra.errors import describe
from infra.outbox import OutboxWriter, Outgoing, filed_report_message_id
from infra.relay import OutboxRelay
from infra.topology import CITY_EVENTS

MAX_DESCRIPTION = 4000
_ATTRIBUTE = re.compile(r"^attribute\[([^\]]+)\](\[\])?$")
_POSTCODE = re.compile(r"(?<!\d)([1-9]\d{3})(?!\d)")
_STREET_NUMBER = re.compile(r"^\s*(.+?)(?:\s+(\d+\s*[A-Za-z]?(?:\s*(?:bus|/)\s*\w+)?))?\s*$")
_SINGLE_FIELDS = (
    "jurisdiction_id",
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
    "description",
    "media_url",
)
_LIMITS = {
    "address_string": 300,
    "address_id": 100,
    "device_id": 200,
    "account_id": 200,
    "first_name": 100,
    "last_name": 100,
    "phone": 40,
    "email": 320,
    "media_url": 1000,
}


@dataclass(frozen=True)
class Accepted:
    service_request_id: str
    service_notice: str
    account_id: str | None
    resent: bool = False


@dataclass(frozen=True)
class Form:
    """A POST's fields: one value each, and the answers to the extra questions (`attribute[code]`, `...[]`)."""

    fields: dict[str, str]
    attributes: dict[str, str | list[str]]

    @classmethod
    def parse(cls, pairs: Sequence[tuple[str, str]]) -> Form:
        fields: dict[str, str] = {}
        attributes: dict[str, str | list[str]] = {}
        for key, value in pairs:
            found = _ATTRIBUTE.match(key)
            if found is None:
                fields.setdefault(key, value)
                continue
            code, multi = found.group(1), found.group(2)
            current = attributes.get(code)
            if multi or current is not None:
                values = [current] if isinstance(current, str) else list(current or [])
                attributes[code] = [*values, value]
            else:
                attributes[code] = value
        return cls(fields, attributes)

    def get(self, name: str) -> str | None:
        value = self.fields.get(name)
        return value.strip() if value is not None and value.strip() else None

    def fingerprint(self, client: str) -> str:
        """What makes two POSTs the same request: the client and every field but the key, in a fixed order."""
        fields = {k: v for k, v in self.fields.items() if k != "api_key"}
        canonical = json.dumps([client, sorted(fields.items()), sorted(self.attributes.items())], ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Intake:
    def __init__(
        self,
        settings: Open311Settings,
        sessions: async_sessionmaker[AsyncSession],
        routing: RoutingService,
        *,
        relay: OutboxRelay | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._routing = routing
        self._catalogue = routing.catalogue
        self._places: PlaceFinder | None = routing.places
        self._relay = relay
        self._clock = clock

    async def submit(self, client: str, form: Form) -> Accepted:
        """Validate, then file once: raises Open311Error (400, 404) for what the spec calls errors."""
        now = self._clock()
        report, row = self.build(form, now)
        fingerprint = form.fingerprint(client)
        outgoing = Outgoing.of(
            report,
            exchange=CITY_EVENTS.name,
            routing_key=ReportFiled.routing_key,
            message_id=filed_report_message_id(report.report_id),
            subject=report.report_id,
            time=now,
        )
        window_start = now - dt.timedelta(seconds=self._settings.resend_window_s)
        # Rows this process's relay will publish from memory right after the commit (others sweep them later).
        handed_off = self._relay is not None and self._relay.running
        outbox = OutboxWriter(self._relay.handoff if handed_off and self._relay is not None else None)
        async with self._sessions() as session, session.begin():
            # An UPDATE of the client's key row first: the client's POSTs take turns (a row lock on PostgreSQL,
            # the write lock on SQLite), so two copies of one resend cannot both miss each other.
            await session.execute(update(Open311ApiKey).where(Open311ApiKey.name == client).values(last_used_at=now))
            earlier = (
                await session.execute(
                    select(Open311Request.service_request_id, Open311Request.service_notice)
                    .where(
                        Open311Request.client == client,
                        Open311Request.fingerprint == fingerprint,
                        Open311Request.requested_at >= window_start,
                    )
                    .order_by(Open311Request.requested_at.desc())
                    .limit(1)
                )
            ).first()
            if earlier is not None:
                return Accepted(earlier.service_request_id, earlier.service_notice, form.get("account_id"), resent=True)
            session.add(Open311Request(client=client, fingerprint=fingerprint, **row))
            await session.flush()
            written = await outbox.write(session, [outgoing], now)
        # Committed: the report is safe and will be routed exactly once. Now hand it to this process's relay.
        outbox.hand_off(written, now)
        return Accepted(report.report_id, row["service_notice"], form.get("account_id"))

    def build(self, form: Form, now: dt.datetime) -> tuple[ReportFiled, dict[str, Any]]:
        """The report and the request row for a form, or the first Open311Error it deserves."""
        code, category = self._category(form)
        description = form.fields.get("description", "").strip()
        if len(description) > MAX_DESCRIPTION:
            raise Open311Error(400, f"description is longer than {MAX_DESCRIPTION} characters ({len(description)})")
        try:
            answers = check_answers(category.attributes, form.attributes)
        except AnswerError as exc:
            raise Open311Error(400, str(exc)) from None
        location = self._location(form)
        media_url = form.get("media_url")
        if media_url is not None and not re.match(r"https?://", media_url):
            raise Open311Error(400, "media_url must be an http(s) URL")
        fraction = answers.get("waste_fraction")
        report_id = "o311-" + uuid.uuid4().hex[:20]
        try:
            report = ReportFiled.model_validate(
                {
                    "report_id": report_id,
                    "filed_at": now,
                    "channel": "app",
                    "category": code,
                    "waste_fraction": fraction if isinstance(fraction, str) else None,
                    "location": location,
                    "description": description,
                    "reporter": _reporter(form),
                    "attributes": answers,
                }
            )
        except ValidationError as exc:
            raise Open311Error(400, describe(exc)) from None
        notice, agencies, due = service_notice(self._routing, report)
        row = {
            "service_request_id": report_id,
            "requested_at": now,
            "service_code": code,
            "description": public_text(report, description),
            "lat": location.get("lat"),
            "lon": location.get("lon"),
            "address_string": form.get("address_string"),
            "address_id": form.get("address_id"),
            "media_url": media_url,
            "attributes": {k: (public_text(report, v) if isinstance(v, str) else v) for k, v in answers.items()},
            "agency_responsible": agencies[:300],
            "service_notice": notice,
            "expected_date": due,
        }
        return report, row

    def _category(self, form: Form) -> tuple[str, Category]:
        """The form's service code and its category, once no field is over its length limit."""
        for name, limit in _LIMITS.items():
            value = form.get(name)
            if value is not None and len(value) > limit:
                raise Open311Error(400, f"{name} is longer than {limit} characters")
        code = form.get("service_code")
        if code is None:
            raise Open311Error(400, "service_code was not provided")
        category = self._catalogue.category(code)
        if category is None:
            raise Open311Error(404, f"service_code '{code}' was not found (GET services.xml lists them)")
        return code, category

    def _location(self, form: Form) -> dict[str, Any]:
        lat, lon = form.get("lat"), form.get("long")
        address, address_id = form.get("address_string"), form.get("address_id")
        location: dict[str, Any] = {}
        if lat is not None or lon is not None:
            try:
                location["lat"], location["lon"] = float(lat or ""), float(lon or "")
            except ValueError:
                raise Open311Error(400, "lat and long must both be given, as decimal degrees (WGS84)") from None
            if not (-90 <= location["lat"] <= 90 and -180 <= location["lon"] <= 180):
                raise Open311Error(400, "lat must be within -90..90 and long within -180..180")
        if address is not None:
            location.update(self._parse_address(address, required="lat" not in location))
        if not location:
            if address_id is not None:
                raise Open311Error(400, "address_id is not known to this server: send lat and long or address_string")
            raise Open311Error(400, "a location is required: lat and long, address_string or address_id")
        return location

    def _parse_address(self, text: str, *, required: bool) -> dict[str, Any]:
        """`Stapelstraat 12A, 3800 Brustem`: street, house number, postcode and district, as far as they are there.

        Without a point the district must be named (or follow from a postcode of one district only).
        """
        parts = [p.strip() for p in text.split(",") if p.strip()]
        out: dict[str, Any] = {}
        if parts:
            found = _STREET_NUMBER.match(parts[0])
            if found is not None and not _POSTCODE.fullmatch(parts[0]):
                out["street"] = found.group(1)
                if found.group(2):
                    out["house_number"] = found.group(2).replace(" ", "")
        postcode = _POSTCODE.search(text)
        known = self._places.postcodes if self._places is not None else {}
        folded = text.casefold()
        district = next(
            (
                d
                for d in sorted(known, key=len, reverse=True)
                if re.search(rf"(?<!\w){re.escape(d.casefold())}(?!\w)", folded)
                and d.casefold() != (out.get("street") or "").casefold()
            ),
            None,
        )
        if district is None and postcode is not None:
            only = [d for d, p in known.items() if p == postcode.group(1)]
            district = only[0] if len(only) == 1 else None
        if district is not None:
            out["district"] = district
            out["postcode"] = postcode.group(1) if postcode else known[district]
        elif postcode is not None:
            out["postcode"] = postcode.group(1)
        if required and ("street" not in out or "district" not in out):
            raise Open311Error(
                400,
                "address_string must name the street and the district (deelgemeente), e.g. "
                "'Stapelstraat 12, 3800 Sint-Truiden', or send lat and long",
            )
        return out


def public_text(report: ReportFiled, text: str) -> str:
    """`text` as anyone may read it: the reporter's name, e-mail addresses and phone numbers masked."""
    return mask_contact(report, text)


def _reporter(form: Form) -> dict[str, str | None] | None:
    """The reporter's contact data as the form gives it, or None when it gives none."""
    full_name = " ".join(p for p in (form.get("first_name"), form.get("last_name")) if p) or None
    if full_name or form.get("email") or form.get("phone"):
        return {"name": full_name, "email": form.get("email"), "phone": form.get("phone")}
    return None

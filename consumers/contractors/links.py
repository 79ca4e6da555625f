"""One-click answers for e-mail contractors: a signed link per allowed next step of a work order (pure, no I/O).

A link's token is `v1.<work order>.<assignee>.<status>.<expiry>.<signature>`: the signature is an HMAC-SHA256
over the rest with the assignee's own link secret (`HUB_CONTRACTOR_LINK_SECRETS`, newest first: links signed with
an older secret keep working during a rotation). The token says which step it is for and until when, never what
the order is about; the date of a plan and the reason of a refusal are asked on the confirmation page.

A page link (`p1.<assignee>.<expiry>.<signature>`, same secrets) opens the assignee's own page of work orders
(`/contractors/`): it names no order, and works only for the assignee it was signed for.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from contracts import WorkOrderStatus

S = WorkOrderStatus
VERSION = "v1"
PAGE_VERSION = "p1"
# The steps an e-mail offers from `issued`, in the order they are shown, with their Dutch labels.
STEPS: tuple[tuple[WorkOrderStatus, str], ...] = (
    (S.ACCEPTED, "Aanvaarden"),
    (S.PLANNED, "Inplannen (met datum)"),
    (S.IN_PROGRESS, "Werken bezig"),
    (S.DONE, "Klaar"),
    (S.REJECTED, "Weigeren (met reden)"),
)
LABELS = dict(STEPS)


class LinkError(ValueError):
    """A link that is not (or no longer) good: altered, signed with an unknown secret, or expired."""


@dataclass(frozen=True)
class LinkClaim:
    work_order_id: str
    assignee: str
    status: WorkOrderStatus
    expires: dt.datetime


@dataclass(frozen=True)
class PageClaim:
    assignee: str
    expires: dt.datetime


def _sign(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class LinkSigner:
    secrets: Mapping[str, Sequence[str]]
    base_url: str
    ttl: dt.timedelta = dt.timedelta(days=30)

    def signs_for(self, assignee: str) -> bool:
        return bool(self.secrets.get(assignee))

    def token(self, work_order_id: str, assignee: str, status: WorkOrderStatus, now: dt.datetime) -> str:
        expires = int((now + self.ttl).timestamp())
        payload = f"{VERSION}.{work_order_id}.{assignee}.{status.value}.{expires}"
        return f"{payload}.{_sign(self.secrets[assignee][0], payload)}"

    def url(self, token: str) -> str:
        return f"{self.base_url.rstrip('/')}/contractors/links/{token}"

    def links(self, work_order_id: str, assignee: str, now: dt.datetime) -> list[tuple[str, str]]:
        """(label, URL) per step an order just issued may take; none without a secret for the assignee."""
        if not self.signs_for(assignee):
            return []
        return [(label, self.url(self.token(work_order_id, assignee, st, now))) for st, label in STEPS]

    def page_token(self, assignee: str, now: dt.datetime) -> str:
        """The assignee's link to its own page of work orders: `p1.<assignee>.<expiry>.<signature>` (the version
        is signed too, so an answer link's signature never makes a page link, nor the other way round)."""
        expires = int((now + self.ttl).timestamp())
        payload = f"{PAGE_VERSION}.{assignee}.{expires}"
        return f"{payload}.{_sign(self.secrets[assignee][0], payload)}"

    def page_url(self, token: str) -> str:
        return f"{self.base_url.rstrip('/')}/contractors/?token={token}"

    def verify_page(self, token: str, now: dt.datetime) -> PageClaim:
        """Whose page a good page link opens; `LinkError` otherwise (altered, unknown secret, expired)."""
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != PAGE_VERSION:
            raise LinkError("this link is not valid")
        _, assignee, expires, signature = parts
        payload = ".".join(parts[:3])
        if not any(hmac.compare_digest(_sign(s, payload), signature) for s in self.secrets.get(assignee, ())):
            raise LinkError("this link is not valid")
        try:
            until = dt.datetime.fromtimestamp(int(expires), dt.UTC)
        except (ValueError, OverflowError):
            raise LinkError("this link is not valid") from None
        if now >= until:
            raise LinkError("this link has expired")
        return PageClaim(assignee, until)

    def verify(self, token: str, now: dt.datetime) -> LinkClaim:
        """The claim of a good link; `LinkError` with the reason otherwise (the signature is checked first)."""
        parts = token.split(".")
        if len(parts) != 6 or parts[0] != VERSION:
            raise LinkError("this link is not valid")
        _, work_order_id, assignee, status, expires, signature = parts
        payload = ".".join(parts[:5])
        good = any(hmac.compare_digest(_sign(secret, payload), signature) for secret in self.secrets.get(assignee, ()))
        if not good:
            raise LinkError("this link is not valid")
        try:
            claim = LinkClaim(
                work_order_id, assignee, WorkOrderStatus(status), dt.datetime.fromtimestamp(int(expires), dt.UTC)
            )
        except ValueError:
            raise LinkError("this link is not valid") from None
        if now >= claim.expires:
            raise LinkError("this link has expired")
        return claim

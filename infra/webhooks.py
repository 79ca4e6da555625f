"""Standard Webhooks 1.0: signing and verifying, and one HTTP attempt to deliver a signed message.

`webhook-signature` is `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">` keyed with the
base64 part of a `whsec_...` secret. During a rotation the hub signs with both secrets, space separated, so the
receiver accepts either. The timestamp is the time of the attempt (receivers refuse stale ones); the id stays
the same on every attempt, so receivers deduplicate on it.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import secrets as random_secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

SECRET_PREFIX = "whsec_"
TOLERANCE_S = 300
HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"
USER_AGENT = "city-contact-hub-webhooks/1"


class WebhookVerificationError(ValueError):
    """A callback's signature, id or timestamp is missing, wrong or stale."""


def generate_secret() -> str:
    """A new endpoint secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(random_secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise ValueError("a webhook secret is `whsec_` followed by base64") from exc


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<signature>` for one secret."""
    digest = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, with one signature per secret (two during a rotation)."""
    if not secrets:
        raise ValueError("no secret to sign with")
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: " ".join(sign(s, msg_id, timestamp, body) for s in secrets),
    }


def verify(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: dt.datetime,
    tolerance_s: int = TOLERANCE_S,
) -> str:
    """The webhook-id of a correctly signed, fresh message; WebhookVerificationError otherwise."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get(HEADER_ID)
    stamp = lowered.get(HEADER_TIMESTAMP)
    signatures = lowered.get(HEADER_SIGNATURE)
    if not msg_id or not stamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a Unix time in seconds") from None
    if abs(now.timestamp() - timestamp) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp is too far from the current time")
    offered = [s.strip() for s in signatures.split(" ") if s.strip()]
    for secret in secrets:
        expected = sign(secret, msg_id, timestamp, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return msg_id
    raise WebhookVerificationError("no valid signature")


def retry_after_seconds(value: str | None, now: dt.datetime) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt gave: an HTTP status (None when no response came) and what to do about it."""

    status: int | None
    error: str | None = None
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        """410 Gone: the receiver asks us to stop; the endpoint is disabled."""
        return self.status == 410


class WebhookSender:
    """Posts signed messages; never follows redirects; one timeout for the whole request."""

    def __init__(self, *, timeout_s: float, client: httpx.AsyncClient | None = None) -> None:
        if timeout_s > 30:
            raise ValueError("webhook timeout must be at most 30 s")
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
            headers={"user-agent": USER_AGENT},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post(
        self, url: str, *, msg_id: str, body: bytes, secrets: Sequence[str], now: dt.datetime
    ) -> AttemptResult:
        headers = signed_headers(secrets, msg_id, int(now.timestamp()), body)
        headers["content-type"] = "application/json"
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return AttemptResult(None, "timeout")
        except httpx.HTTPError as exc:
            return AttemptResult(None, f"{type(exc).__name__}: {exc}"[:500])
        error = None
        if not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code}"
            if 300 <= response.status_code < 400:
                error += " (redirects are not followed)"
        return AttemptResult(response.status_code, error, retry_after_seconds(response.headers.get("retry-after"), now))

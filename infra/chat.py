"""Posting a message to a chat's incoming webhook: Slack, Mattermost, Rocket.Chat, or Microsoft Teams Workflows.

Two body shapes (`ChatFormat`, chosen per endpoint in configuration): `text`, the JSON object with a `text`
field (Markdown) that Slack, Mattermost and Rocket.Chat take; `teams`, a message with one Adaptive Card
attachment, the only shape a Teams Workflows webhook ("Post to a channel when a webhook request is received")
renders (the Office 365 connectors that took `{"text"}` are retired). On a secret URL; the URL is the
credential, so it is never logged. One attempt per call: the caller schedules retries. Redirects are not followed (a
webhook that moved is a configuration error, not something to chase).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

import httpx

from infra.webhooks import AttemptResult, retry_after_seconds

USER_AGENT = "city-contact-hub-alerts/1"


ChatFormat = Literal["text", "teams"]
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


def chat_body(text: str) -> bytes:
    """The JSON Slack, Mattermost and Rocket.Chat webhooks accept."""
    return json.dumps({"text": text}, ensure_ascii=False).encode()


def adaptive_card_body(card: dict[str, Any]) -> bytes:
    """A Teams Workflows message carrying one Adaptive Card (`card`: its `type`, `version`, `body`, ...)."""
    if card.get("type") != "AdaptiveCard":
        raise ValueError("not an Adaptive Card")
    message = {"type": "message", "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}]}
    return json.dumps(message, ensure_ascii=False).encode()


class ChatWebhookSender:
    """Posts JSON to one chat webhook URL with a timeout; returns what happened, never raises for HTTP trouble."""

    def __init__(self, url: str, *, timeout_s: float, client: httpx.AsyncClient | None = None) -> None:
        self._url = url
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s), follow_redirects=False, headers={"user-agent": USER_AGENT}
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post(self, body: bytes, *, idempotency_key: str, now: dt.datetime) -> AttemptResult:
        # The same key on every attempt lets a receiver that supports it drop a repeat after a lost answer.
        headers = {"content-type": "application/json", "idempotency-key": idempotency_key}
        try:
            response = await self._client.post(self._url, content=body, headers=headers)
        except httpx.TimeoutException:
            return AttemptResult(None, "timeout")
        except httpx.HTTPError as exc:
            # The exception text may carry the URL, which is a secret: keep only the class.
            return AttemptResult(None, type(exc).__name__)
        error = None
        if not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code}"
            if 300 <= response.status_code < 400:
                error += " (redirects are not followed)"
        return AttemptResult(response.status_code, error, retry_after_seconds(response.headers.get("retry-after"), now))

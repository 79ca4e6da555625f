"""Message bodies as the privacy erasure reads and rewrites them: find the report, drop the reporter."""

from __future__ import annotations

import json
from typing import Any

REPORTER = "reporter"


def document(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None: not JSON, not an object, or nested too deeply to parse (RecursionError:
    a contractor can plant such a body in a dead-letter queue through `workorder.status`)."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def scrub_reporter(body: bytes) -> bytes | None:
    """The body without `reporter` (top level, or in a webhook envelope's `data`); None when there is none to remove.

    Compact JSON without ASCII escapes, as pydantic writes the hub's messages.
    """
    doc = document(body)
    return None if doc is None else without_reporter(doc)


def without_reporter(doc: dict[str, Any]) -> bytes | None:
    data = doc.get("data")
    changed = False
    # A `"reporter": null` (an assignee that may not see it) holds nothing: the body stays as it is.
    for holder in (doc, data) if isinstance(data, dict) else (doc,):
        if holder.get(REPORTER) is not None:
            del holder[REPORTER]
            changed = True
    if not changed:
        return None
    try:
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        return None


def report_id_of(body: bytes) -> str | None:
    doc = document(body)
    return None if doc is None else report_id_in(doc)


def report_id_in(doc: dict[str, Any]) -> str | None:
    data = doc.get("data")
    value = doc.get("report_id") or (data.get("report_id") if isinstance(data, dict) else None)
    return value if isinstance(value, str) else None

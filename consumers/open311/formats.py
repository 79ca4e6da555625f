"""Open311's two formats: the same documents as XML (required by the spec) and JSON, and its error format."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree import ElementTree as ET

from starlette.responses import Response

FORMATS = ("xml", "json")
XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"

# The element name of a list's items in XML, by the list's own name.
_ITEMS = {
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}


class Open311Error(Exception):
    """An error in the spec's format: HTTP status `status`, `<error><code>status</code><description>`."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def split_format(name: str) -> tuple[str, str]:
    """`waste.missed_collection.json` -> (`waste.missed_collection`, `json`): only the last suffix is the format."""
    stem, dot, fmt = name.rpartition(".")
    if not dot or not stem:
        raise Open311Error(404, f"'{name}' names no format: append .xml or .json")
    if fmt not in FORMATS:
        raise Open311Error(404, f"format '{fmt}' is not served: use .xml or .json")
    return stem, fmt


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 with the offset, seconds precision, as the spec's w3 note wants."""
    return None if value is None else value.replace(microsecond=0).isoformat()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return iso(value) or ""
    return str(value)


def _add(parent: ET.Element, tag: str, value: Any) -> None:
    element = ET.SubElement(parent, tag)
    if value is None:
        return
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _add(element, key, inner)
    elif isinstance(value, list | tuple):
        item_tag = _ITEMS.get(tag, "item")
        for inner in value:
            _add(element, item_tag, inner)
    else:
        element.text = _text(value)


def to_xml(root: str, item: str | None, document: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> bytes:
    """`<root><item>...</item>...</root>` for a list, `<root>...</root>` for one mapping; UTF-8 with declaration."""
    top = ET.Element(root)
    if isinstance(document, Mapping):
        for key, value in document.items():
            _add(top, key, value)
    else:
        assert item is not None
        for entry in document:
            _add(top, item, entry)
    return bytes(ET.tostring(top, encoding="utf-8", xml_declaration=True))


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def render(
    fmt: str,
    root: str,
    item: str | None,
    document: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    status: int = 200,
) -> Response:
    """The document in `fmt`: XML under `root` (a list's entries as `item`), or the same document as JSON."""
    if fmt == "json":
        body = json.dumps(document, default=_json_default, ensure_ascii=False)
        return Response(body.encode("utf-8"), status_code=status, media_type=JSON_TYPE)
    return Response(to_xml(root, item, document), status_code=status, media_type=XML_TYPE)


def error_response(fmt: str, errors: Sequence[Open311Error]) -> Response:
    """`<errors><error><code/><description/></error></errors>`, or a JSON array of `{code, description}`."""
    document = [{"code": e.status, "description": e.description} for e in errors]
    return render(fmt, "errors", "error", document, status=errors[0].status)

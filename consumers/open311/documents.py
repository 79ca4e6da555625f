"""The read-only documents: discovery, the service list and service definitions, from the category catalogue."""

from __future__ import annotations

import datetime as dt
from typing import Any

from consumers.domain.attributes import LIST_TYPES, Attribute
from consumers.domain.catalogue import Catalogue, Category
from consumers.open311.settings import Open311Settings

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
FORMATS = ["text/xml", "application/json"]


def discovery(settings: Open311Settings, changeset: dt.datetime) -> dict[str, Any]:
    return {
        "changeset": changeset,
        "contact": settings.contact,
        "key_service": settings.key_service,
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": settings.public_url,
                "changeset": changeset,
                "type": "production",
                "formats": FORMATS,
            }
        ],
    }


def service(category: Category) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name_nl,
        "description": category.description or category.name_nl,
        "metadata": bool(category.attributes),
        "type": "realtime",
        "keywords": ", ".join(category.keywords),
        "group": category.group,
    }


def services(catalogue: Catalogue) -> list[dict[str, Any]]:
    return [service(c) for c in catalogue.categories.values()]


def _attribute(attribute: Attribute) -> dict[str, Any]:
    document: dict[str, Any] = {
        "variable": attribute.variable,
        "code": attribute.code,
        "datatype": attribute.datatype,
        "required": attribute.required,
        "datatype_description": attribute.datatype_description or None,
        "order": attribute.order,
        "description": attribute.description,
    }
    if attribute.datatype in LIST_TYPES:
        document["values"] = [{"key": v.key, "name": v.name} for v in attribute.values]
    return document


def definition(category: Category) -> dict[str, Any]:
    return {"service_code": category.code, "attributes": [_attribute(a) for a in category.attributes]}

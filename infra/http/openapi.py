"""The OpenAPI document of the hub's app: FastAPI's, plus the schemas of bodies a route reads by hand.

A route that must check headers before it reads its body (the contractors' callback) cannot declare the body as
a FastAPI parameter: FastAPI would read it first. `request_body(Model)` describes it instead, and `install`
puts the model's schemas into the document's components.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

_REF = "#/components/schemas/{model}"
_SCHEMAS = "x-hub-schemas"


def request_body(model: type[BaseModel], *, media_type: str = "application/json") -> dict[str, Any]:
    """`openapi_extra` of a route whose body is `model`, read by the route itself."""
    schema = model.model_json_schema(ref_template=_REF)
    defs = schema.pop("$defs", {})
    return {
        "requestBody": {
            "required": True,
            "content": {media_type: {"schema": {"$ref": _REF.format(model=model.__name__)}}},
        },
        _SCHEMAS: {**defs, model.__name__: schema},
    }


def install(app: FastAPI) -> None:
    """Generate the document once, on first request, with every route's hand-read body schemas."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                license_info=app.license_info,
            )
            components = document.setdefault("components", {}).setdefault("schemas", {})
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    components.update(operation.pop(_SCHEMAS, {}))
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

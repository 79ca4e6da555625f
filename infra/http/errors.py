"""Error answers of every route in one shape (`ErrorOut`), and the refusal of repeated query parameters.

A bad or unknown parameter is a 422 whose `detail` names it (`loc`: `["query", "year"]`); an `HTTPException`
is `{"error": its detail}` with its status. Errors are never cached: the next answer may be different.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

INVALID = "invalid query parameters"
NO_STORE = {"Cache-Control": "no-store"}


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    error: str
    detail: list[ErrorItem] = Field(default_factory=list)


def error_response(
    status: int, message: str, detail: list[ErrorItem] | None = None, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = ErrorOut(error=message, detail=detail or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers={**NO_STORE, **(headers or {})})


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for a route's error answers, all `ErrorOut`."""
    described = {
        401: "Not authenticated",
        404: "Not found",
        409: "Refused",
        411: "Content-Length required",
        413: "Body too large",
        422: "Invalid parameters",
        503: "Unavailable, try again later",
    }
    return {status: {"model": ErrorOut, "description": described.get(status, "Error")} for status in statuses}


def invalid(loc: tuple[str | int, ...], msg: str, type_: str = "value_error") -> RequestValidationError:
    """A 422 for a rule the parameter models cannot check (raise it)."""
    return RequestValidationError([{"loc": loc, "msg": msg, "type": type_}])


def single_valued_query(request: Request) -> None:
    """Refuse a parameter given twice (`year=2021&year=2022`): which one was meant is a guess."""
    seen: set[str] = set()
    repeated: list[dict[str, Any]] = []
    for name, _ in request.query_params.multi_items():
        if name in seen:
            repeated.append({"loc": ("query", name), "msg": "given more than once", "type": "repeated"})
        seen.add(name)
    if repeated:
        raise RequestValidationError(repeated)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = [ErrorItem(loc=list(e["loc"]), msg=str(e["msg"]), type=str(e["type"])) for e in exc.errors()]
    return error_response(422, INVALID, items)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)

"""`/asyncapi.json` (the hub's message contracts as AsyncAPI 3.0) and `/asyncapi`, the page that shows it.

The page works offline: the AsyncAPI React component's standalone bundle and style are vendored in
`static/asyncapi/` (see its README) and served from here, nothing comes from a CDN. Its bundle validates the
document with a JSON Schema compiler that generates code (`new Function`), so the page, and only the page, allows
`'unsafe-eval'` for scripts of the hub's own origin.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

from infra.http.deps import service
from infra.http.security import CONTENT_SECURITY_POLICY

ASSETS = Path(__file__).resolve().parent / "static" / "asyncapi"
_MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_SERVED = ("standalone.js", "default.min.css", "render.js", "page.css")
PAGE_POLICY = CONTENT_SECURITY_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-eval'")


@dataclass(frozen=True)
class AsyncApiDocument:
    title: str
    json: str


Document = Annotated[AsyncApiDocument, Depends(service(AsyncApiDocument))]

router = APIRouter(tags=["operations"])


@router.get(
    "/asyncapi.json",
    summary="The hub's message contracts (AsyncAPI 3.0)",
    response_class=Response,
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def asyncapi_json(document: Document) -> Response:
    return Response(document.json, media_type="application/json")


@router.get("/asyncapi", summary="The message contracts as a page", response_class=HTMLResponse)
async def asyncapi_page(document: Document) -> HTMLResponse:
    title = html.escape(f"{document.title} · AsyncAPI")
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/asyncapi/assets/default.min.css">
  <link rel="stylesheet" href="/asyncapi/assets/page.css">
  <script src="/asyncapi/assets/standalone.js" defer></script>
  <script src="/asyncapi/assets/render.js" defer></script>
</head>
<body>
  <div id="asyncapi" data-schema="/asyncapi.json">Loading the AsyncAPI document (AsyncApiStandalone)…</div>
</body>
</html>
"""
    return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_POLICY})


@router.get("/asyncapi/assets/{name}", include_in_schema=False)
async def asyncapi_asset(name: str) -> FileResponse:
    if name not in _SERVED:
        raise HTTPException(404, "not found")
    path = ASSETS / name
    return FileResponse(path, media_type=_MEDIA[path.suffix], headers={"Cache-Control": "public, max-age=3600"})

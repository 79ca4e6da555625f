"""A contractor's own page: `GET /contractors/?token=...` and its CSV, `GET /contractors/orders.csv?token=...`.

The token is the contractor's page link (`LinkSigner.page_token`: HMAC with its own link secret, with an expiry),
e-mailed with its work orders and reminders, or issued by staff with `hub contractors page-link NAME`. It opens
that contractor's orders only: its open ones with their due dates, overdue first, their status changes and the
one-click answer links of the steps still possible (`?alle=1`: the closed ones too; `?werkbon=ID`: one of its
orders, another's is unknown). An altered, unknown or expired link is 403 and shows nothing. Dutch.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consumers.contractors.links import LABELS, LinkError, LinkSigner
from consumers.contractors.page import COLUMNS, PageRow, page_rows, to_csv
from consumers.contractors.rules import ALLOWED
from consumers.domain.catalogue import Assignee, Catalogue
from infra.clock import utcnow
from infra.http.deps import service

PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


def _page(status: int, title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:.3em;vertical-align:top;text-align:left}tr.overdue{background:#fde8e8}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
        headers=PRIVATE,
    )


REFUSED = "<p>Deze link is ongeldig, aangepast of verlopen. Vraag de stad een nieuwe link.</p>"


@dataclass
class ContractorPages:
    signer: LinkSigner
    sessions: async_sessionmaker[AsyncSession]
    catalogue: Catalogue
    timezone: ZoneInfo
    clock: Callable[[], dt.datetime] = field(default=utcnow)

    def _assignee(self, token: str) -> Assignee | None:
        try:
            claim = self.signer.verify_page(token, self.clock())
        except LinkError:
            return None
        return self.catalogue.assignees.get(claim.assignee)

    async def _rows(self, assignee: Assignee, include_closed: bool, work_order_id: str | None) -> list[PageRow]:
        today = self.clock().astimezone(self.timezone).date()
        async with self.sessions() as session:
            return await page_rows(
                session,
                self.catalogue,
                assignee,
                today=today,
                tz=self.timezone,
                include_closed=include_closed,
                work_order_id=work_order_id,
            )

    def _answers(self, assignee: Assignee, row: PageRow) -> str:
        if not self.signer.signs_for(assignee.code):
            return ""
        now = self.clock()
        links = [
            f'<a href="{html.escape(self.signer.url(self.signer.token(row.work_order_id, assignee.code, st, now)))}">'
            f"{html.escape(label)}</a>"
            for st, label in LABELS.items()
            if st in ALLOWED[row.status]
        ]
        return " · ".join(links)

    async def show(self, token: str, include_closed: bool, work_order_id: str | None) -> HTMLResponse:
        assignee = self._assignee(token)
        if assignee is None:
            return _page(403, "Ongeldige link", REFUSED)
        rows = await self._rows(assignee, include_closed, work_order_id)
        if work_order_id is not None and not rows:
            return _page(404, "Onbekende werkbon", f"<p>Werkbon {html.escape(work_order_id)} is niet gekend.</p>")
        esc = html.escape
        head = "".join(f"<th>{esc(c)}</th>" for c in COLUMNS) + "<th>Antwoorden</th>"
        body = "".join(
            f'<tr class="{"overdue" if r.overdue else ""}">'
            + "".join(f"<td>{esc(c)}</td>" for c in r.cells)
            + f"<td>{self._answers(assignee, r)}</td></tr>"
            for r in rows
        )
        overdue = sum(r.overdue for r in rows)
        which = "al uw werkbonnen" if include_closed else "uw open werkbonnen"
        query = f"token={esc(token)}" + ("&amp;alle=1" if include_closed else "")
        other = (
            f'<a href="?token={esc(token)}">alleen de open</a>'
            if include_closed
            else f'<a href="?token={esc(token)}&amp;alle=1">ook de afgesloten</a>'
        )
        summary = (
            f"<p>{len(rows)} werkbonnen ({which}), waarvan {overdue} te laat. De te late staan eerst. "
            f'<a href="orders.csv?{query}">Download als CSV</a> · {other}</p>'
        )
        table = f'<table id="orders"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        return _page(200, f"Werkbonnen van {assignee.name}", summary + table)

    async def csv(self, token: str, include_closed: bool) -> Response:
        assignee = self._assignee(token)
        if assignee is None:
            return _page(403, "Ongeldige link", REFUSED)
        rows = await self._rows(assignee, include_closed, None)
        day = self.clock().astimezone(self.timezone).date().isoformat()
        return Response(
            to_csv(rows).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={**PRIVATE, "Content-Disposition": f'attachment; filename="werkbonnen-{assignee.code}-{day}.csv"'},
        )


Pages = Annotated[ContractorPages, Depends(service(ContractorPages))]
Token = Annotated[str, Query(max_length=300, description="The contractor's page link (signed, with an expiry).")]
All = Annotated[str | None, Query(alias="alle", max_length=5, description="`1`: the closed orders too.")]

router = APIRouter(tags=["contractors"])


@router.get("/contractors/", summary="A contractor's own page of its work orders (with its signed link)",
            response_class=HTMLResponse, description=__doc__)  # fmt: skip
async def contractor_page(
    pages: Pages,
    token: Token = "",
    alle: All = None,
    werkbon: Annotated[str | None, Query(max_length=64, description="One of its work orders.")] = None,
) -> HTMLResponse:
    return await pages.show(token, alle == "1", werkbon)


@router.get("/contractors/orders.csv", summary="A contractor's work orders as CSV (the page's table)",
            description=__doc__)  # fmt: skip
async def contractor_csv(pages: Pages, token: Token = "", alle: All = None) -> Response:
    return await pages.csv(token, alle == "1")

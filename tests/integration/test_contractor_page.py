"""A contractor's own page on the real services (PostgreSQL, `hub serve`'s app, the CLI that issues the link):
only its orders, overdue first, with their status changes, no personal data its policy forbids, the CSV equal to
the page; another's link or ids, an altered or an expired link are refused."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from html.parser import HTMLParser

import httpx
import pytest

from consumers.contractors.links import LinkSigner
from consumers.contractors.onbehalf import OnBehalf
from consumers.contractors.rules import Sender
from consumers.contractors.status import StatusService
from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import Catalogue
from contracts import WorkOrderStatus, WorkOrderStatusChanged
from hub.http import create_http_app
from hub.settings import ContractorsSettings, Settings
from infra.batcher import TransactionBatcher
from infra.db import create_engine, create_session_factory
from tests.contractors_support import add_order
from tests.support import BRUSSELS, hub_cli

pytestmark = pytest.mark.integration

SECRETS = {"road_firm": ["page-secret-road"], "waste_company": ["page-secret-waste"]}


class Table(HTMLParser):
    """The cells of the page's table `#orders`, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("id", "orders") in attrs:
            self._in = True
        elif self._in and tag == "tr":
            self.rows.append([])
        elif self._in and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in = False
        elif self._in and tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_of(page: str) -> list[list[str]]:
    parser = Table()
    parser.feed(page)
    return parser.rows


async def test_a_contractor_sees_only_its_orders_and_the_csv_is_the_page(postgres_url: str) -> None:
    settings = Settings(database_url=postgres_url, contractors=ContractorsSettings(contractor_link_secrets=SECRETS))
    engine = create_engine(postgres_url)
    sessions = create_session_factory(engine)
    today = dt.datetime.now(BRUSSELS).date()
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    late = await add_order(sessions, assignee="road_firm", due=today - dt.timedelta(days=2), issued_at=issued,
                           description="Gat in de weg, bel Jan Peeters op 0470 12 34 56", reporter_name="Jan Peeters",
                           reporter_phone="0470 12 34 56")  # fmt: skip
    later = await add_order(sessions, assignee="road_firm", due=today + dt.timedelta(days=3), issued_at=issued)
    done = await add_order(sessions, assignee="road_firm", due=today, issued_at=issued, status="done")
    others = await add_order(sessions, assignee="waste_company", due=today, issued_at=issued)

    # A member of staff accepts the late one for the road firm: the page shows the change, not the staff's name.
    catalogue = Catalogue.load(settings.domain.categories_file, settings.domain.assignees_file)
    calendar = CityCalendar.load(settings.domain.calendar_file)
    batcher = TransactionBatcher("status", sessions)
    service = StatusService(catalogue, calendar, user_prefix="contractor-", trusted_users=frozenset())
    change = WorkOrderStatusChanged(work_order_id=late, assignee="road_firm", status=WorkOrderStatus.ACCEPTED,
                                    changed_at=dt.datetime.now(dt.UTC))  # fmt: skip
    await OnBehalf(service, batcher).apply(change, Sender.staff("Jan Balie", "road_firm"), "staff-page-test")
    await batcher.stop()
    await engine.dispose()

    env = {"HUB_DATABASE_URL": postgres_url, "HUB_CONTRACTOR_LINK_SECRETS": json.dumps(SECRETS),
           "HUB_PUBLIC_URL": "http://hub"}  # fmt: skip
    code, output = await hub_cli("contractors", "page-link", "road_firm", env=env)
    assert code == 0, output
    url = output.strip().splitlines()[-1]
    assert url.startswith("http://hub/contractors/?token=p1.road_firm.")
    code, output = await hub_cli("contractors", "page-link", "groendienst", env=env)
    assert (code, output.strip()) == (1, "error: no link secret for groendienst in HUB_CONTRACTOR_LINK_SECRETS")
    token = url.split("token=", 1)[1]

    app = create_http_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as client,
    ):
        page = await client.get("/contractors/", params={"token": token})
        assert page.status_code == 200, page.text
        assert page.headers["cache-control"] == "no-store"
        rows = table_of(page.text)
        header, body = rows[0], rows[1:]
        assert header[0] == "Werkbon"
        assert header[-1] == "Antwoorden"
        assert [r[0] for r in body] == [late, later]  # open only, the overdue one first
        assert body[0][6] == "ja"
        assert body[1][6] == "nee"
        assert "aanvaard door de stad, voor u" in body[0][8]
        assert "Jan Balie" not in page.text
        for forbidden in ("Jan Peeters", "0470 12 34 56", others):
            assert forbidden not in page.text
        assert "[afgeschermd]" in body[0][7]
        assert "Klaar" in body[0][-1]  # the one-click answers of the steps still possible

        exported = await client.get("/contractors/orders.csv", params={"token": token})
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        assert list(csv.reader(io.StringIO(exported.text))) == [r[:-1] for r in rows]
        everything = await client.get("/contractors/", params={"token": token, "alle": "1"})
        assert [r[0] for r in table_of(everything.text)[1:]] == [late, later, done]
        all_csv = await client.get("/contractors/orders.csv", params={"token": token, "alle": "1"})
        assert list(csv.reader(io.StringIO(all_csv.text))) == [r[:-1] for r in table_of(everything.text)]

        # One of its own orders by id; another's is unknown, as if it did not exist.
        assert (await client.get("/contractors/", params={"token": token, "werkbon": later})).status_code == 200
        theirs = await client.get("/contractors/", params={"token": token, "werkbon": others})
        assert theirs.status_code == 404
        assert others in theirs.text  # only the id it asked for
        # The waste company's own link shows its order and none of the road firm's.
        waste = LinkSigner(SECRETS, "http://hub").page_token("waste_company", dt.datetime.now(dt.UTC))
        waste_page = await client.get("/contractors/", params={"token": waste})
        assert [r[0] for r in table_of(waste_page.text)[1:]] == [others]
        assert late not in waste_page.text

        # Altered (another assignee under the road firm's signature), signed with another secret, expired, none.
        refused = [
            token.replace("p1.road_firm.", "p1.waste_company."),
            LinkSigner({"road_firm": ["not-the-secret"]}, "http://hub").page_token(
                "road_firm", dt.datetime.now(dt.UTC)
            ),
            LinkSigner(SECRETS, "http://hub").page_token("road_firm", dt.datetime.now(dt.UTC) - dt.timedelta(days=31)),
            "",
        ]
        for bad in refused:
            for path in ("/contractors/", "/contractors/orders.csv"):
                answer = await client.get(path, params={"token": bad})
                assert answer.status_code == 403, (path, bad)
                assert late not in answer.text

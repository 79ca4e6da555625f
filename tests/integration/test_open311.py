"""Open311 GeoReport v2 against a real `hub serve` (and `hub run router status`): a third-party client reads it,
POSTs as the spec gives them file reports exactly once, errors come in the spec's format, a contractor's `done`
shows as `closed` and as FixMyStreet's `FIXED`; no reporter data in any GET.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
import xmltodict
from georeport import GeoReport
from sqlalchemy import text

from consumers.router.workorders import work_order_id
from infra.db import create_engine
from tests.support import ROOT, HubProcess, drain_queue, hub_cli

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

BRUSTEM = (50.8026, 5.2258)  # the centre of Brustem in places.yaml
HASSELT = (50.9307, 5.3378)  # outside the city
SECRET_PHONE = "0470 12 34 56"
SECRET_MAIL = "geheim.adres@example.be"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _until(check: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.3)
    raise AssertionError(f"{what} not seen within {timeout}s (last: {last!r})")


def _errors_xml(response: httpx.Response) -> list[dict[str, str]]:
    assert response.headers["content-type"].startswith("text/xml")
    error = xmltodict.parse(response.content)["errors"]["error"]
    return error if isinstance(error, list) else [error]


async def test_open311_against_a_real_hub_serve(clean_broker: str, postgres_url: str, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:6]
    port = _free_port()
    env = {
        "HUB_AMQP_URL": clean_broker,
        "HUB_DATABASE_URL": postgres_url,
        "HUB_LOG_LEVEL": "WARNING",
        "HUB_METRICS_PORT": "0",
        "HUB_RETRY_DELAY_MS": "500",
    }
    code, output = await hub_cli("open311", "keys", "add", f"fms-{run}", env=env)
    assert code == 0, output
    key = output.strip().splitlines()[-1]
    assert key.startswith("o311_")
    code, listing = await hub_cli("open311", "keys", "list", env=env)
    assert f"fms-{run}" in listing
    assert key not in listing  # shown once, stored hashed

    hub = HubProcess("router", "status", env=env, log_path=tmp_path / "hub.log").start()
    serve_log = (tmp_path / "serve.log").open("ab")
    serve = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "hub.cli", "serve", "--host", "127.0.0.1", "--port", str(port)),
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=serve_log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/open311/v2"
    try:
        await hub.wait_ready(clean_broker)
        await hub.wait_ready(clean_broker, queue="hub.status")
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:

            async def alive() -> bool:
                try:
                    return (await client.get("/discovery.json")).status_code == 200
                except httpx.HTTPError:
                    assert serve.returncode is None, (tmp_path / "serve.log").read_text()[-3000:]
                    return False

            await _until(alive, "hub serve answering")

            # --- a third-party client reads the server, in XML and in JSON ------------------------------------
            discovery = xmltodict.parse((await client.get("/discovery.xml")).content)["discovery"]
            assert discovery["endpoints"]["endpoint"]["specification"] == "http://wiki.open311.org/GeoReport_v2"
            assert (await client.get("/discovery.json")).json()["endpoints"][0]["formats"] == [
                "text/xml",
                "application/json",
            ]
            for fmt in ("xml", "json"):
                geo = GeoReport(base, jurisdiction="sint-truiden.be", output_format=fmt)
                services = await asyncio.to_thread(geo.get_service_list)
                by_code = {s["service_code"]: s for s in services}
                assert by_code["lighting.defect"]["service_name"] == "Defecte straatverlichting"
                assert str(by_code["lighting.defect"]["metadata"]).lower() == "true"
                assert str(by_code["sewer.blocked"]["metadata"]).lower() == "false"
                assert by_code["waste.missed_collection"]["group"] == "waste"
                definition = await asyncio.to_thread(geo.get_service_definition, "waste.missed_collection")
                attributes = definition["attributes"]
                attributes = attributes["attribute"] if fmt == "xml" else attributes
                fraction = attributes[0]
                assert fraction["code"] == "waste_fraction"
                assert fraction["datatype"] == "singlevaluelist"
                values = fraction["values"]["value"] if fmt == "xml" else fraction["values"]
                assert {"key": "pmd", "name": "PMD"} in values

            # --- POSTs as the spec gives them: form-encoded ---------------------------------------------------
            form = {
                "api_key": key,
                "jurisdiction_id": "sint-truiden.be",
                "service_code": "lighting.defect",
                "lat": str(BRUSTEM[0]),
                "long": str(BRUSTEM[1]),
                "attribute[problem]": "out",
                "attribute[pole_number]": f"STR-{run}",
                "description": f"Lamp brandt niet, bel me op {SECRET_PHONE} of mail {SECRET_MAIL}",
                "email": SECRET_MAIL,
                "first_name": "Annemie",
                "last_name": "Vandersteen",
                "phone": SECRET_PHONE,
                "account_id": f"acc-{run}",
            }
            first = await client.post("/requests.json", data=form)
            assert first.status_code == 201, first.text
            (accepted,) = first.json()
            request_id = accepted["service_request_id"]
            assert accepted["account_id"] == f"acc-{run}"
            assert accepted["service_notice"].startswith("Uw melding is doorgegeven aan ")
            assert "Verwacht uiterlijk" in accepted["service_notice"]
            # The client timed out and sends the same POST again: the same request, not a second report.
            again = await client.post("/requests.xml", data=form)
            assert again.status_code == 201, again.text
            assert xmltodict.parse(again.content)["service_requests"]["request"]["service_request_id"] == request_id
            # Two copies of another request at the same moment: they take turns, one report.
            other = {**form, "attribute[pole_number]": f"STR-{run}-2", "description": "Tweede lamp"}
            both = await asyncio.gather(*(client.post("/requests.json", data=other) for _ in range(2)))
            assert [b.status_code for b in both] == [201, 201], [b.text for b in both]
            assert both[0].json()[0]["service_request_id"] == both[1].json()[0]["service_request_id"] != request_id

            orders = await drain_queue(clean_broker, "workorders.grid_operator", expect=2, timeout=60, settle=3)
            assert sorted(b["report_id"] for b in orders.bodies) == sorted(
                [request_id, both[0].json()[0]["service_request_id"]]
            ), orders.bodies
            (order,) = [b for b in orders.bodies if b["report_id"] == request_id]
            assert order["report_id"] == request_id
            assert order["location"]["district"] == "Brustem"
            assert order["location"]["postcode"] == "3800"
            assert order["attributes"] == {"problem": "out", "pole_number": f"STR-{run}"}
            assert order["reporter"] is None
            assert SECRET_PHONE not in order["description"]

            # A point outside the city: accepted, and sent to triage with the reason.
            outside = await client.post(
                "/requests.json",
                data={**form, "lat": str(HASSELT[0]), "long": str(HASSELT[1]), "description": "Elders"},
            )
            assert outside.status_code == 201, outside.text
            triage = await drain_queue(clean_broker, "workorders.contact_center_triage", expect=1, timeout=60)
            (triaged,) = [b for b in triage.bodies if b["report_id"] == outside.json()[0]["service_request_id"]]
            assert triaged["rule_id"] == "outside-city"
            assert "outside the city" in triaged["description"]

            # --- the spec's errors ------------------------------------------------------------------------
            missing_key = await client.post("/requests.xml", data={k: v for k, v in form.items() if k != "api_key"})
            assert missing_key.status_code == 403
            assert _errors_xml(missing_key)[0]["code"] == "403"
            wrong_key = await client.post("/requests.json", data={**form, "api_key": "o311_not-a-key"})
            assert wrong_key.status_code == 403
            assert wrong_key.json()[0]["code"] == 403
            unknown = await client.post("/requests.json", data={**form, "service_code": "potholes.on.mars"})
            assert unknown.status_code == 404
            assert "service_code" in unknown.json()[0]["description"]
            nowhere = {k: v for k, v in form.items() if k not in ("lat", "long")}
            no_location = await client.post("/requests.xml", data=nowhere)
            assert no_location.status_code == 400
            assert "location" in _errors_xml(no_location)[0]["description"]
            jurisdiction = await client.post("/requests.json", data={**form, "jurisdiction_id": "hasselt.be"})
            assert jurisdiction.status_code == 404
            assert "jurisdiction_id" in jurisdiction.json()[0]["description"]
            too_long = await client.post("/requests.json", data={**form, "description": "x" * 4001})
            assert too_long.status_code == 400
            assert "4000" in too_long.json()[0]["description"]
            assert (await client.get("/services/potholes.on.mars.xml")).status_code == 404
            assert (await client.get("/services.json", params={"jurisdiction_id": "elders.be"})).status_code == 404

            # --- reading requests back: the third-party client, XML and JSON ------------------------------
            for fmt in ("xml", "json"):
                geo = GeoReport(base, jurisdiction="sint-truiden.be", output_format=fmt)
                listed = await asyncio.to_thread(geo.get_service_requests, service_code="lighting.defect")
                listed = listed if isinstance(listed, list) else [listed]
                assert request_id in {r["service_request_id"] for r in listed}
                one = await asyncio.to_thread(geo.get_service_request, request_id)
                assert one["status"] == "open"
                assert one["zipcode"] == "3800"
                assert "Brustem" in one["address"]
                assert one["expected_datetime"]
            everything = (await client.get(f"/requests/{request_id}.json")).text + (
                await client.get("/requests.xml")
            ).text
            for secret in (SECRET_PHONE, SECRET_MAIL, "Annemie", "Vandersteen", f"acc-{run}"):
                assert secret not in everything
            assert (await client.get(f"/tokens/{request_id}.json")).json()[0]["service_request_id"] == request_id
            assert (await client.get("/requests/o311-nope.xml")).status_code == 404
            span = await client.get(
                "/requests.json", params={"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}
            )
            assert span.status_code == 400

            # --- the contractor reports `done`: closed, and FIXED for FixMyStreet -------------------------
            now = dt.datetime.now(dt.UTC)
            connection = await aio_pika.connect(clean_broker)
            async with connection:
                channel = await connection.channel(publisher_confirms=True)
                exchange = await channel.get_exchange("city.events", ensure=False)
                for i, step in enumerate(("accepted", "done")):
                    body = {
                        "work_order_id": work_order_id(request_id, "grid_operator"),
                        "assignee": "grid_operator",
                        "status": step,
                        "changed_at": (now + dt.timedelta(seconds=i)).isoformat(),
                    }
                    await exchange.publish(
                        aio_pika.Message(
                            json.dumps(body).encode(),
                            message_id=f"status-{run}-{step}",
                            user_id=httpx.URL(clean_broker).username or "guest",
                            content_type="application/json",
                        ),
                        routing_key="workorder.status",
                    )

            async def closed() -> bool:
                return bool((await client.get(f"/requests/{request_id}.json")).json()[0]["status"] == "closed")

            await _until(closed, "the request closed")
            updates = await client.get("/servicerequestupdates.xml")
            assert updates.status_code == 200
            found = xmltodict.parse(updates.content)["service_request_updates"]["request_update"]
            found = found if isinstance(found, list) else [found]
            mine = [u for u in found if u["service_request_id"] == request_id]
            assert [u["status"] for u in mine] == ["IN_PROGRESS", "FIXED"]
            json_updates = (await client.get("/servicerequestupdates.json")).json()
            assert [u["status"] for u in json_updates if u["service_request_id"] == request_id] == [
                "IN_PROGRESS",
                "FIXED",
            ]

        # Erasing the reporter's data reaches the report.filed the server wrote to the outbox too.
        code, output = await hub_cli("privacy", "erase", "--report", request_id, env=env)
        assert code == 0, output
        engine = create_engine(postgres_url)
        try:
            async with engine.connect() as conn:
                body = (
                    await conn.execute(
                        text("SELECT body FROM outbox WHERE message_id = :id"), {"id": f"report.filed/{request_id}"}
                    )
                ).scalar_one()
        finally:
            await engine.dispose()
        assert json.loads(body).get("reporter") is None
        assert "Vandersteen" not in bytes(body).decode()
    finally:
        if serve.returncode is None:
            serve.terminate()
            try:
                await asyncio.wait_for(serve.wait(), timeout=20)
            except TimeoutError:
                serve.kill()
                await serve.wait()
        serve_log.close()
        hub.stop()

"""Phone numbers in a description never reach a contractor (issue 12): the hub routes a report whose description holds
the formats that used to slip through, and neither the work order on the contractor's queue, nor its signed webhook,
nor its e-mail holds any digit run of them. Real RabbitMQ, PostgreSQL, HTTP receiver and SMTP server."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

import pytest

from hub.bootstrap import build_hub
from hub.settings import ContractorsSettings, HubDomainSettings, MetricsSettings, Settings, SmtpServerSettings
from infra.topology import workorder_queue_name
from infra.webhooks import generate_secret
from tests.contractors_support import Receiver, SmtpSink, write_assignees
from tests.support import CitySystem, drain_queue, make_report, until

pytestmark = pytest.mark.integration

DESCRIPTION = (
    "Sinds 05/03/2021 een gevaarlijk gat, paal 1234. Bel 0470123456/011701414 of 0471 12 34 56 012 70 14 14, "
    "anders 0472 12 34 56 - 0473 65 43 21, +32 (0)474 12 34 56, (013) 70 14 14, 0475\u00a012\u00a034\u00a056 "
    "of 0476\u201312\u201334\u201356."
)
NUMBERS = ["470123456", "11701414", "471123456", "12701414", "472123456", "473654321", "474123456", "13701414"]
NUMBERS += ["475123456", "476123456"]


def leaks(description: str) -> list[str]:
    """The numbers of DESCRIPTION whose subscriber part (last 6 digits) is still in `description`."""
    digits = "".join(ch for ch in description if ch.isdigit())
    return [n for n in NUMBERS if n[-6:] in digits]


async def test_no_phone_number_of_a_description_reaches_a_contractor(
    clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    receiver = await Receiver().start()
    smtp = await SmtpSink().start()
    secret = generate_secret()
    settings = Settings(
        amqp_url=clean_broker,
        database_url=postgres_url,
        domain=HubDomainSettings(
            assignees_file=write_assignees(
                tmp_path / "assignees.yaml", changes={"waste_company": {"webhook_url": receiver.url("waste_company")}}
            )
        ),
        contractors=ContractorsSettings(webhook_secrets={"waste_company": [secret]}, delivery_poll_interval_s=0.2),
        smtp=SmtpServerSettings(host="127.0.0.1", port=smtp.port),
        metrics=MetricsSettings(port=0),
    )
    waste = make_report(random.Random(1), 1, run=run, category="waste.missed_collection")
    road = make_report(random.Random(2), 2, run=run, category="road.damage")
    waste, road = (r.model_copy(update={"description": DESCRIPTION}) for r in (waste, road))
    hub = build_hub(settings, consumers=["router", "deliveries"])
    await hub.start()
    try:
        async with CitySystem(clean_broker) as city:
            await city.publish_report(waste)
            await city.publish_report(road)

        async def delivered() -> bool:
            return bool(receiver.calls("waste_company")) and bool(smtp.messages)

        await until(delivered, "the webhook and the e-mail")
        queued = await drain_queue(clean_broker, workorder_queue_name("waste_company"), expect=1, settle=0.3)
    finally:
        await hub.stop()
        await receiver.stop()
        await smtp.stop()

    (order,) = queued.bodies
    (call,) = receiver.calls("waste_company")
    webhook = json.loads(call.body)["data"]
    (message,) = smtp.messages
    plain = message.get_body(("plain",))
    assert plain is not None
    mailed = plain.get_content().split("Omschrijving:", 1)[1].split("Hoe antwoorden?", 1)[0]
    for description in (order["description"], webhook["description"], mailed):
        assert "[afgeschermd]" in description
        assert leaks(description) == [], description
        # What is not contact data stays.
        assert "Sinds 05/03/2021 een gevaarlijk gat, paal 1234." in description

"""A report for a street with a newline in its name (issue 12) is routed, and its work order e-mailed to a real SMTP
server (aiosmtpd) with one clean Subject line and no header the street could have added. Real RabbitMQ and
PostgreSQL; the hub's router and deliveries consumers in this process."""

from __future__ import annotations

import asyncio
import random
import uuid
from pathlib import Path

import pytest

from hub.bootstrap import build_hub
from hub.settings import ContractorsSettings, MetricsSettings, Settings, SmtpServerSettings
from tests.contractors_support import SmtpSink
from tests.support import CitySystem, make_report

pytestmark = pytest.mark.integration


async def test_a_work_order_for_a_street_with_a_newline_is_emailed_with_a_clean_subject(
    clean_broker: str, postgres_url: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    smtp = await SmtpSink().start()
    settings = Settings(
        amqp_url=clean_broker,
        database_url=postgres_url,
        smtp=SmtpServerSettings(host="127.0.0.1", port=smtp.port),
        contractors=ContractorsSettings(delivery_poll_interval_s=0.2),
        metrics=MetricsSettings(port=0),
    )
    report = make_report(random.Random(3), 3, run=run, category="road.damage")
    location = report.location.model_copy(update={"street": "Stapelstraat\r\nBcc: everyone@example.org"})
    # "gevaarlijk": the road-repair firm takes it, by e-mail.
    report = report.model_copy(update={"location": location, "description": "Diep en gevaarlijk gat"})
    hub = build_hub(settings, consumers=["router", "deliveries"])
    await hub.start()
    try:
        async with CitySystem(clean_broker) as city:
            await city.publish_report(report)
        for _ in range(300):  # 30 s
            if smtp.messages:
                break
            await asyncio.sleep(0.1)
    finally:
        await hub.stop()
        await smtp.stop()

    (message,) = smtp.messages
    assert message["To"] == "planning@road-firm.example.be"
    assert message["Bcc"] is None
    subjects = message.get_all("Subject")
    assert subjects is not None
    (subject,) = subjects
    assert subject.startswith("Werkbon wo-")
    assert "Stapelstraat Bcc: everyone@example.org" in subject
    # On the wire: the Subject field, folded as long headers are (continuation lines start with a space), unfolds
    # to exactly that one line; the street added no header of its own.
    head = smtp.raw[0].decode(errors="replace").split("\r\n\r\n", 1)[0].split("\r\n")
    start = next(i for i, line in enumerate(head) if line.startswith("Subject:"))
    end = next((i for i in range(start + 1, len(head)) if not head[i][:1].isspace()), len(head))
    assert "".join(head[start:end]) == f"Subject: {subject}"
    assert not any(line.lower().startswith("bcc:") for line in head)

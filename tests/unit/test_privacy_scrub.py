"""Scrubbing a stored message of its reporter: the rest of the message as it was (pure, no services)."""

from __future__ import annotations

import json

import pytest

from consumers.privacy.bodies import report_id_of, scrub_reporter

pytestmark = pytest.mark.unit


def test_scrubbing_keeps_everything_but_the_reporter() -> None:
    order = {"work_order_id": "wo-1", "report_id": "rep-1", "reporter": {"name": "N"}, "description": "é"}
    assert json.loads(scrub_reporter(json.dumps(order).encode()) or b"") == {
        "work_order_id": "wo-1",
        "report_id": "rep-1",
        "description": "é",
    }
    envelope = {"type": "workorder.issued", "data": order}
    scrubbed = json.loads(scrub_reporter(json.dumps(envelope).encode()) or b"")
    assert scrubbed["data"] == {"work_order_id": "wo-1", "report_id": "rep-1", "description": "é"}
    assert report_id_of(json.dumps(envelope).encode()) == "rep-1"
    # Nothing to remove: a contractor's order (`reporter: null`), no JSON object, broken JSON.
    for body in (b'{"report_id": "rep-1", "reporter": null}', b"[1, 2]", b'{"report', b"\xff"):
        assert scrub_reporter(body) is None

"""The benchmark's message-count bound, derived from the topology's bindings (benchmarks/e2e.py)."""

from __future__ import annotations

import pytest

from benchmarks.e2e_done import topic_matches
from benchmarks.e2e_hub import broker_messages_per_report


@pytest.mark.parametrize(
    ("binding", "key", "expected"),
    [
        ("report.filed", "report.filed", True),
        ("report.filed", "report.filed.x", False),
        ("workorder.issued.*", "workorder.issued.stad-wegen", True),
        ("workorder.issued.*", "workorder.issued", False),
        ("workorder.#", "workorder", True),
        ("workorder.#", "workorder.issued.a", True),
        ("#.status", "workorder.status", True),
        ("spike.*", "workorder.status", False),
    ],
)
def test_topic_matching_follows_amqp(binding: str, key: str, expected: bool) -> None:
    assert topic_matches(binding, key) is expected


def test_the_router_and_statistics_move_three_deliveries_and_a_publish_per_report() -> None:
    # The router and the statistics both take the report; the statistics also take each work order.
    figures = broker_messages_per_report(["router", "stats"], orders_per_report=1.1)
    assert figures["deliveries"] == pytest.approx(3.1)
    assert figures["publishes"] == pytest.approx(1.1)
    assert figures["ratio_bound"] == pytest.approx(2 / 4.2, abs=1e-3)
    # The router alone: one delivery per report, its work orders published.
    assert broker_messages_per_report(["router"], orders_per_report=1.0)["ratio_bound"] == pytest.approx(1.0)

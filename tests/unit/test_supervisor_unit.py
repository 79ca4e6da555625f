"""How `hub run --workers N` spreads its consumers, and the tag on its children's log lines."""

from __future__ import annotations

import json
import logging

import pytest

from hub.logging import configure_logging
from hub.supervisor import child_env, spread
from hub.topology import CONSUMERS


def test_the_costliest_consumers_go_to_different_workers() -> None:
    assert spread(list(CONSUMERS), 2) == [["router", "spikes", "status"], ["stats", "deliveries", "notifier"]]
    assert spread(["router"], 8) == [["router"]]
    assert spread([], 4) == [[]]
    assert len(spread(list(CONSUMERS), 64)) == len(CONSUMERS)


def test_each_child_gets_its_own_metrics_port_or_none() -> None:
    assert child_env({"A": "1"}, 2, 9464) == {"A": "1", "HUB_METRICS_PORT": "9466"}
    assert "HUB_METRICS_PORT" not in child_env({}, 1, 0)


def test_a_childs_log_lines_carry_its_consumers(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_lines=True, consumers="router,spikes")
    logging.getLogger("x").info("hello")
    assert json.loads(capsys.readouterr().err.strip().splitlines()[-1])["consumers"] == "router,spikes"
    configure_logging("INFO", json_lines=False, consumers="stats")
    logging.getLogger("x").info("hello")
    assert "[stats] x hello" in capsys.readouterr().err
    configure_logging("INFO", json_lines=False)

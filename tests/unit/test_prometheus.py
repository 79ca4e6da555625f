"""docker-compose.yml's newcomers profile (mail catcher, Prometheus) and the hub's example alert rules.

`promtool` (Debian's `prometheus` package; scripts/test.sh installs it as root) checks the Prometheus
configuration and the rules, and runs their unit tests (deploy/prometheus/alerts_test.yml): each alert fires
on what should raise it and stays silent on its look-alikes. Under CI=true a missing promtool fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.settings import Settings
from hub.topology import CONSUMERS as HUB_CONSUMERS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
NEWCOMERS = "newcomers"
# The metric names the rules use, each exposed by the hub (tests/integration/test_metrics.py scrapes them).
EXPOSED = {
    "hub_queue_messages",
    "hub_outbox_backlog",
    "hub_delivery_endpoint_circuit_open",
    "hub_deliveries_total",
    "hub_contact_center_open",
    "up",
}


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    services: dict[str, Any] = _yaml(ROOT / "docker-compose.yml")["services"]
    return services


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool not found: install Debian's `prometheus` package (scripts/test.sh does, as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _promtool(promtool: str, *args: str) -> str:
    result = subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_newcomers_get_a_mail_catcher_wired_as_the_smtp_host(services: dict[str, Any]) -> None:
    mailpit = services["mailpit"]
    assert mailpit["profiles"] == [NEWCOMERS]
    assert "127.0.0.1:8025:8025" in mailpit["ports"]  # its web UI, on this machine only
    for name in (*HUB_CONSUMERS, "relay", "api", "migrate"):
        environment = services[name]["environment"]
        # The mail catcher unless the environment names a real SMTP host.
        assert environment["HUB_SMTP_HOST"] == "${HUB_SMTP_HOST:-mailpit}", name
        assert environment["HUB_SMTP_PORT"] == "${HUB_SMTP_PORT:-1025}", name  # mailpit's SMTP port
        assert environment["HUB_COMMS_EMAIL_TO"].startswith("${HUB_COMMS_EMAIL_TO:-"), name
    # Outside the profile nothing changes: the production services run without it.
    for name, service in services.items():
        if name not in {"mailpit", "prometheus"}:
            assert "profiles" not in service, name


def test_prometheus_scrapes_every_consumer_and_the_api(services: dict[str, Any]) -> None:
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == [NEWCOMERS]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    config = _yaml(PROMETHEUS / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    port = Settings().metrics.port
    dns = jobs["hub-consumers"]["dns_sd_configs"]
    scraped = {name for entry in dns for name in entry["names"] if entry["port"] == port and entry["type"] == "A"}
    # Each consumer's service (every replica: one DNS answer each), the standalone relay included.
    running = {name for name, s in services.items() if (s.get("command") or [None])[0] == "run"}
    assert scraped == running == {*HUB_CONSUMERS, "relay"}
    api_port = services["api"]["command"][services["api"]["command"].index("--port") + 1]
    assert jobs["hub-api"]["static_configs"][0]["targets"] == [f"api:{api_port}"]
    assert config["rule_files"] == ["alerts.yml"]


def test_the_example_alerts_exist_and_use_metrics_the_hub_exposes() -> None:
    rules = [rule for group in _yaml(PROMETHEUS / "alerts.yml")["groups"] for rule in group["rules"]]
    names = {rule["alert"] for rule in rules}
    assert {
        "HubDeadLetterQueueGrowing",
        "HubOutboxBacklog",
        "HubDeliveryEndpointCircuitOpen",
        "HubNoMessagesInOpeningHours",
    } <= names
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]
        used = {word for word in EXPOSED if word in rule["expr"]}
        assert used, f"{rule['alert']}: uses no metric the hub exposes"
    tested = {
        test["alertname"] for case in _yaml(PROMETHEUS / "alerts_test.yml")["tests"] for test in case["alert_rule_test"]
    }
    assert tested == names, "every alert has a promtool unit test"


def test_promtool_accepts_the_configuration_and_the_rules(promtool: str) -> None:
    assert "SUCCESS" in _promtool(promtool, "check", "config", "prometheus.yml")
    assert "SUCCESS" in _promtool(promtool, "check", "rules", "alerts.yml")


def test_promtool_unit_tests_of_the_alert_rules_pass(promtool: str) -> None:
    assert "SUCCESS" in _promtool(promtool, "test", "rules", "alerts_test.yml")

"""`hub deliveries list`'s endpoint states: unconfigured endpoints are not "enabled", times carry their zone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest

from consumers.contractors.endpoints import endpoint_states, when

pytestmark = pytest.mark.unit

TZ = ZoneInfo("Europe/Brussels")
NOW = dt.datetime(2021, 3, 15, 9, 0, tzinfo=dt.UTC)
ASSIGNEES = [("waste_company", "webhook"), ("grid_operator", "webhook"), ("road_firm", "email"), ("oncall", "queue")]


@dataclass
class Row:
    consecutive_failures: int = 0
    open_until: dt.datetime | None = None
    disabled_at: dt.datetime | None = None
    disabled_reason: str | None = None


def states(**kwargs: object) -> dict[str, str]:
    options: dict[str, object] = {
        "webhook_secrets": {},
        "smtp_host": None,
        "failure_threshold": 5,
        "now": NOW,
        "tz": TZ,
    } | kwargs
    rows = options.pop("rows", {})
    return {s.assignee: s.state for s in endpoint_states(ASSIGNEES, rows, **options)}  # type: ignore[arg-type]


def test_every_webhook_and_email_assignee_is_listed_and_unconfigured_ones_say_so() -> None:
    listed = states()
    assert set(listed) == {"waste_company", "grid_operator", "road_firm"}  # queue assignees have no endpoint
    assert listed["waste_company"].startswith("NOT CONFIGURED (no secret in HUB_WEBHOOK_SECRETS")
    assert listed["road_firm"].startswith("NOT CONFIGURED (no HUB_SMTP_HOST")


def test_configured_endpoints_show_their_health() -> None:
    listed = states(
        webhook_secrets={"waste_company": ["whsec_x"], "grid_operator": ["whsec_y"]},
        smtp_host="smtp.example.be",
        rows={
            "waste_company": Row(consecutive_failures=7, open_until=dt.datetime(2021, 3, 15, 9, 30)),  # naive = UTC
            "grid_operator": Row(disabled_at=dt.datetime(2021, 3, 14, 8, 0, tzinfo=dt.UTC), disabled_reason="410 Gone"),
        },
    )
    assert listed["waste_company"] == "circuit OPEN until 2021-03-15 10:30:00+01:00"
    assert listed["grid_operator"] == "DISABLED since 2021-03-14 09:00:00+01:00 (410 Gone)"
    assert listed["road_firm"] == "enabled"


def test_times_are_shown_in_the_city_zone_with_their_offset() -> None:
    assert when(dt.datetime(2021, 7, 1, 8, 0, tzinfo=dt.UTC), TZ) == "2021-07-01 10:00:00+02:00"
    assert when(dt.datetime(2021, 1, 1, 8, 0), TZ) == "2021-01-01 09:00:00+01:00"
    assert when(None, TZ) == "-"


def test_each_state_says_what_it_is_for_the_console_to_say_it_in_its_language() -> None:
    listed = {
        s.assignee: (s.kind, s.at, s.reason, s.failures)
        for s in endpoint_states(
            ASSIGNEES,
            {
                "waste_company": Row(consecutive_failures=7, open_until=dt.datetime(2021, 3, 15, 9, 30)),
                "grid_operator": Row(
                    consecutive_failures=1,
                    disabled_at=dt.datetime(2021, 3, 14, 8, 0, tzinfo=dt.UTC),
                    disabled_reason="410 Gone",
                ),
            },
            webhook_secrets={"waste_company": ["whsec_x"], "grid_operator": ["whsec_y"]},
            smtp_host=None,
            failure_threshold=5,
            now=NOW,
            tz=TZ,
        )
    }
    assert listed == {
        "waste_company": ("circuit_open", dt.datetime(2021, 3, 15, 9, 30, tzinfo=dt.UTC), None, 7),
        "grid_operator": ("disabled", dt.datetime(2021, 3, 14, 8, 0, tzinfo=dt.UTC), "410 Gone", 1),
        "road_firm": ("not_configured", None, "HUB_SMTP_HOST", 0),
    }
    # The cool-down over: half-open, the next delivery probes; below the threshold: enabled.
    half = endpoint_states(
        ASSIGNEES[:1],
        {"waste_company": Row(consecutive_failures=7, open_until=dt.datetime(2021, 3, 15, 8, 0, tzinfo=dt.UTC))},
        webhook_secrets={"waste_company": ["whsec_x"]},
        smtp_host=None,
        failure_threshold=5,
        now=NOW,
        tz=TZ,
    )
    assert [(s.kind, s.at) for s in half] == [("circuit_half_open", None)]

"""What `hub deliveries list` says of each delivery endpoint (pure: the command reads, this decides).

Every webhook and e-mail assignee of the catalogue is listed, whether or not it ever failed (only endpoints that
failed have a `delivery_endpoints` row): one without its webhook secret, or e-mail without an SMTP host, is *not
configured* (its deliveries wait), not "enabled". Times are shown in the city's zone with their offset.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from consumers.contractors.rules import Circuit, circuit_state


class EndpointRow(Protocol):
    """The columns of a `delivery_endpoints` row that the listing reads."""

    @property
    def consecutive_failures(self) -> int: ...

    @property
    def open_until(self) -> dt.datetime | None: ...

    @property
    def disabled_at(self) -> dt.datetime | None: ...

    @property
    def disabled_reason(self) -> str | None: ...


@dataclass(frozen=True)
class EndpointState:
    assignee: str
    channel: str
    state: str
    detail: str


def when(moment: dt.datetime | None, tz: dt.tzinfo) -> str:
    """A stored time in the city's zone with its offset (`2021-03-15 10:05:00+01:00`), `-` for none."""
    if moment is None:
        return "-"
    if moment.tzinfo is None:  # SQLite returns naive datetimes; they were written in UTC
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(tz).isoformat(sep=" ", timespec="seconds")


def endpoint_states(
    assignees: Iterable[tuple[str, str]],
    rows: Mapping[str, EndpointRow],
    *,
    webhook_secrets: Mapping[str, list[str]],
    smtp_host: str | None,
    failure_threshold: int,
    now: dt.datetime,
    tz: dt.tzinfo,
) -> list[EndpointState]:
    """One state per (code, channel) of a webhook or e-mail assignee, sorted by code."""
    states = []
    for code, channel in sorted(assignees):
        if channel not in ("webhook", "email"):
            continue
        row = rows.get(code)
        failures = row.consecutive_failures if row is not None else 0
        detail = f"consecutive failures {failures}"
        if channel == "webhook" and not webhook_secrets.get(code):
            state = "NOT CONFIGURED (no secret in HUB_WEBHOOK_SECRETS; deliveries wait)"
        elif channel == "email" and not smtp_host:
            state = "NOT CONFIGURED (no HUB_SMTP_HOST; deliveries wait)"
        elif row is not None and row.disabled_at is not None:
            state = f"DISABLED since {when(row.disabled_at, tz)} ({row.disabled_reason or 'no reason'})"
        elif row is not None:
            open_until = row.open_until
            if open_until is not None and open_until.tzinfo is None:
                open_until = open_until.replace(tzinfo=dt.UTC)
            circuit = circuit_state(failures, open_until, now, failure_threshold)
            state = {
                Circuit.CLOSED: "enabled",
                Circuit.OPEN: f"circuit OPEN until {when(row.open_until, tz)}",
                Circuit.HALF_OPEN: "circuit half-open (the next delivery probes)",
            }[circuit]
        else:
            state = "enabled"
        states.append(EndpointState(code, channel, state, detail))
    return states

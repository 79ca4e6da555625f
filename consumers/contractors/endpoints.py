"""What `hub deliveries list` says of each delivery endpoint (pure: the command reads, this decides).

Every webhook and e-mail assignee of the catalogue is listed, whether or not it ever failed (only endpoints that
failed have a `delivery_endpoints` row): one without its webhook secret, or e-mail without an SMTP host, is *not
configured* (its deliveries wait), not "enabled". Times are shown in the city's zone with their offset.
Besides the command's words (`state`, `detail`), each state says what it is (`kind`, `at`, `reason`, `failures`),
so the console's page says it in the user's language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

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


EndpointKind = Literal["enabled", "not_configured", "disabled", "circuit_open", "circuit_half_open"]
_CIRCUIT_KIND: dict[Circuit, EndpointKind] = {
    Circuit.CLOSED: "enabled",
    Circuit.OPEN: "circuit_open",
    Circuit.HALF_OPEN: "circuit_half_open",
}


@dataclass(frozen=True)
class EndpointState:
    assignee: str
    channel: str
    state: str  # the command's words
    detail: str
    kind: EndpointKind = "enabled"
    at: dt.datetime | None = None  # disabled since, or the circuit open until (UTC)
    reason: str | None = None  # why it was disabled (`410 Gone`), or the setting that is missing
    failures: int = 0


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
        kind: EndpointKind = "enabled"
        at: dt.datetime | None = None
        reason: str | None = None
        if channel == "webhook" and not webhook_secrets.get(code):
            kind, reason = "not_configured", "HUB_WEBHOOK_SECRETS"
            state = "NOT CONFIGURED (no secret in HUB_WEBHOOK_SECRETS; deliveries wait)"
        elif channel == "email" and not smtp_host:
            kind, reason = "not_configured", "HUB_SMTP_HOST"
            state = "NOT CONFIGURED (no HUB_SMTP_HOST; deliveries wait)"
        elif row is not None and row.disabled_at is not None:
            kind, at, reason = "disabled", _utc(row.disabled_at), row.disabled_reason
            state = f"DISABLED since {when(row.disabled_at, tz)} ({row.disabled_reason or 'no reason'})"
        elif row is not None:
            open_until = _utc(row.open_until)
            circuit = circuit_state(failures, open_until, now, failure_threshold)
            kind = _CIRCUIT_KIND[circuit]
            state = {
                Circuit.CLOSED: "enabled",
                Circuit.OPEN: f"circuit OPEN until {when(row.open_until, tz)}",
                Circuit.HALF_OPEN: "circuit half-open (the next delivery probes)",
            }[circuit]
            at = open_until if circuit is Circuit.OPEN else None
        else:
            state = "enabled"
        states.append(EndpointState(code, channel, state, detail, kind, at, reason, failures))
    return states


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    # SQLite returns naive datetimes; they were written in UTC.
    return moment.replace(tzinfo=dt.UTC) if moment is not None and moment.tzinfo is None else moment

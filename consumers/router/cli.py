"""`hub route --explain REPORT.json [--incident SPIKE.json]`: which routing rule matches a report, why, its work
orders, and whether it would fold into a live incident's order (offline)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from consumers.domain.calendar import CityCalendar
from consumers.domain.catalogue import Catalogue
from consumers.domain.places import PlaceFinder
from consumers.router.rules import RuleSet
from infra.cli import Subparsers, bind, command


class Domain(Protocol):
    """What the explanation decides with: the composition root's loaded domain."""

    @property
    def catalogue(self) -> Catalogue: ...

    @property
    def rules(self) -> RuleSet: ...

    @property
    def calendar(self) -> CityCalendar: ...

    @property
    def places(self) -> PlaceFinder | None: ...


def register(sub: Subparsers, domain: Callable[[], Domain]) -> None:
    """Add `hub route --explain`."""
    route = sub.add_parser("route", help="routing rules, offline")
    route.add_argument(
        "--explain", metavar="REPORT.json", type=Path, required=True, help="which rule matches this report, and why"
    )
    route.add_argument(
        "--incident",
        metavar="SPIKE.json",
        type=Path,
        help="a spike.detected message (SpikeDetected JSON): would the report fold into this incident's order?",
    )
    command(route, bind(explain_cmd, domain))


def explain_cmd(args: argparse.Namespace, domain: Domain) -> int:
    from consumers.router.explain import explain_report

    try:
        incident = args.incident.read_bytes() if args.incident is not None else None
        text = explain_report(
            args.explain.read_bytes(),
            domain.catalogue,
            domain.rules,
            domain.calendar,
            places=domain.places,
            incident_json=incident,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(text)
    return 0

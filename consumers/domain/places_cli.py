"""`hub places approximate | import OFFICIAL.geojson | locate LAT LON`: the district boundaries.

Registered by `hub.cli` through `register(subparsers)`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from consumers.domain.settings import DomainSettings
from infra.cli import Subparsers, bind, command


class CliSettings(Protocol):
    """What these commands read of the hub's settings."""

    @property
    def domain(self) -> DomainSettings: ...


def register(sub: Subparsers, settings: Callable[[], CliSettings]) -> None:
    places = sub.add_parser("places", help="district boundaries: places for reports that carry only a point")
    p_sub = places.add_subparsers(metavar="ACTION")
    approx = p_sub.add_parser(
        "approximate", help="(re)build the APPROXIMATE boundaries from the districts' centres in places.yaml"
    )
    approx.add_argument("--out", type=Path, default=None, help="write here instead of the configured boundary file")
    command(approx, bind(approximate_cmd, settings))
    imp = p_sub.add_parser("import", help="replace the boundaries by the city's official GeoJSON (WGS84)")
    imp.add_argument("source", type=Path, help="the official file: one (multi)polygon feature per district")
    imp.add_argument("--district-property", default="district", help="the property naming the district")
    imp.add_argument("--postcode-property", default="postcode", help="the property holding the postcode, if any")
    command(imp, bind(import_cmd, settings))
    locate = p_sub.add_parser("locate", help="which district, postcode and street a point gets")
    locate.add_argument("lat", type=float, help="latitude (WGS 84), e.g. 50.8167")
    locate.add_argument("lon", type=float, help="longitude (WGS 84), e.g. 5.1864")
    command(locate, bind(locate_cmd, settings))


def approximate_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    from consumers.domain.places import PlacesConfig, approximate_boundaries, write_geojson

    out = args.out or settings.domain.boundaries_file
    collection = approximate_boundaries(PlacesConfig.load(settings.domain.places_file))
    write_geojson(out, collection)
    print(f"wrote {len(collection['features'])} APPROXIMATE district boundaries to {out}")
    return 0


def import_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    from consumers.domain.places import PlacesConfig, PlacesError, import_boundaries, write_geojson

    try:
        source = json.loads(args.source.read_text(encoding="utf-8"))
        collection = import_boundaries(
            source,
            PlacesConfig.load(settings.domain.places_file),
            district_property=args.district_property,
            postcode_property=args.postcode_property,
        )
    except (OSError, ValueError, PlacesError) as exc:
        print(f"error: {exc}")
        return 1
    write_geojson(settings.domain.boundaries_file, collection)
    print(f"wrote {len(collection['features'])} official district boundaries to {settings.domain.boundaries_file}")
    return 0


def locate_cmd(args: argparse.Namespace, settings: CliSettings) -> int:
    from consumers.domain.places import OUTSIDE_REASON, PlaceFinder

    finder = PlaceFinder.load(settings.domain.boundaries_file, settings.domain.places_file)
    place = finder.locate(args.lat, args.lon)
    if place is None:
        print(OUTSIDE_REASON.format(lat=args.lat, lon=args.lon) + ": such a report goes to triage")
        return 1
    note = " (approximate boundaries)" if place.approximate else ""
    print(f"{place.district}, {place.postcode}, street: {place.street or '-'}{note}")
    return 0

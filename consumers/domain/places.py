"""Places from coordinates: which district (and postcode) a point lies in, and its nearest known street.

Pure code on two files: the district boundaries (GeoJSON, WGS84, one feature per district with properties
`district` and `postcode`) and `places.yaml` (the districts' centres and postcodes, streets with coordinates).
`PlaceFinder.load` reads both once; `locate` is a point-in-polygon test with shapely on prepared polygons.

The shipped boundary file is an APPROXIMATION (`approximate_boundaries`: the Voronoi cells of the districts'
centres, clipped to an outline around them); `import_boundaries` replaces it by the city's official file
(`hub places import OFFICIAL.geojson`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
import yaml
from shapely.geometry import LineString, MultiPoint, Point, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from contracts.reports import ReportFiled

# A local flat projection (metres) around the city: an equirectangular one is exact enough over 20 km.
_EARTH_M_PER_DEG_LAT = 110_574.0
_EARTH_M_PER_DEG_LON_EQUATOR = 111_320.0

OUTSIDE_REASON = "the point ({lat:.5f}, {lon:.5f}) lies outside the city's district boundaries"


class PlacesError(ValueError):
    """A places or boundary file is invalid; the message says which and why."""


@dataclass(frozen=True)
class DistrictCentre:
    name: str
    postcode: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Place:
    """Where a point lies: its district and postcode, and the nearest known street (if one is near enough)."""

    district: str
    postcode: str
    street: str | None
    approximate: bool


@dataclass(frozen=True)
class _Street:
    name: str
    district: str
    line: BaseGeometry  # in local metres


@dataclass(frozen=True)
class _Area:
    district: str
    postcode: str
    polygon: BaseGeometry


@dataclass(frozen=True)
class PlacesConfig:
    """`places.yaml`: the districts' centres, the streets with coordinates, and two distances."""

    city: str
    centres: tuple[DistrictCentre, ...]
    streets: tuple[tuple[str, str, tuple[tuple[float, float], ...]], ...]
    outline_buffer_m: float
    street_max_distance_m: float
    version: str

    @classmethod
    def load(cls, path: Path) -> PlacesConfig:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise PlacesError(f"{path}: cannot read: {exc}") from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("districts"), dict):
            raise PlacesError(f"{path}: needs a mapping 'districts' of name -> {{postcode, centre: [lat, lon]}}")
        centres = []
        for name, spec in raw["districts"].items():
            try:
                lat, lon = (float(v) for v in spec["centre"])
                centres.append(DistrictCentre(str(name), str(spec["postcode"]), lat, lon))
            except (KeyError, TypeError, ValueError) as exc:
                raise PlacesError(f"{path}: district '{name}': needs postcode and centre: [lat, lon]") from exc
        streets = []
        for entry in raw.get("streets") or []:
            try:
                points = tuple((float(p[0]), float(p[1])) for p in entry["points"])
                streets.append((str(entry["name"]), str(entry["district"]), points))
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                raise PlacesError(
                    f"{path}: street {entry!r}: needs name, district and points: [[lat, lon], ...]"
                ) from exc
            if not points:
                raise PlacesError(f"{path}: street '{entry['name']}' has no points")
        return cls(
            city=str(raw.get("city", "")),
            centres=tuple(centres),
            streets=tuple(streets),
            outline_buffer_m=float(raw.get("outline_buffer_m", 2000)),
            street_max_distance_m=float(raw.get("street_max_distance_m", 250)),
            version=str(raw.get("version", "unversioned")),
        )

    def postcode_of(self, district: str) -> str | None:
        for centre in self.centres:
            if centre.name.casefold() == district.casefold():
                return centre.postcode
        return None


class _Projection:
    """WGS84 degrees <-> local metres around a reference latitude."""

    def __init__(self, lat0: float) -> None:
        self.kx = _EARTH_M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat0))
        self.ky = _EARTH_M_PER_DEG_LAT

    def to_m(self, lat: float, lon: float) -> tuple[float, float]:
        return lon * self.kx, lat * self.ky

    def geometry_to_m(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geom, lambda xy: xy * [self.kx, self.ky])

    def geometry_to_deg(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geom, lambda xy: xy / [self.kx, self.ky])


class PlaceFinder:
    """Point -> district, postcode, nearest street. Load once; `locate` is cheap (prepared polygons)."""

    def __init__(
        self,
        areas: Sequence[_Area],
        streets: Sequence[_Street],
        projection: _Projection,
        *,
        approximate: bool,
        street_max_distance_m: float,
    ) -> None:
        self._areas = list(areas)
        for area in self._areas:
            shapely.prepare(area.polygon)
        self._streets = list(streets)
        self._projection = projection
        self.approximate = approximate
        self._street_max = street_max_distance_m

    @property
    def districts(self) -> list[str]:
        return [a.district for a in self._areas]

    @property
    def postcodes(self) -> dict[str, str]:
        """District -> postcode, for every district of the boundary file."""
        return {a.district: a.postcode for a in self._areas}

    @classmethod
    def load(cls, boundaries_path: Path, places_path: Path) -> PlaceFinder:
        config = PlacesConfig.load(places_path)
        collection = _read_geojson(boundaries_path)
        areas = []
        for index, feature in enumerate(collection.get("features") or []):
            props = feature.get("properties") or {}
            district = props.get("district")
            if not isinstance(district, str) or not district:
                raise PlacesError(f"{boundaries_path}: feature {index} has no property 'district'")
            postcode = props.get("postcode") or config.postcode_of(district)
            if postcode is None:
                raise PlacesError(f"{boundaries_path}: district '{district}' has no postcode (here or in places)")
            try:
                polygon = shape(feature["geometry"])
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise PlacesError(f"{boundaries_path}: feature '{district}' has no valid geometry") from exc
            if polygon.geom_type not in ("Polygon", "MultiPolygon"):
                raise PlacesError(f"{boundaries_path}: feature '{district}' is a {polygon.geom_type}, not a polygon")
            areas.append(_Area(district, str(postcode), polygon))
        if not areas:
            raise PlacesError(f"{boundaries_path}: no district features")
        lat0 = sum(c.lat for c in config.centres) / len(config.centres) if config.centres else 50.8
        projection = _Projection(lat0)
        streets = []
        for name, district, points in config.streets:
            metres = [projection.to_m(lat, lon) for lat, lon in points]
            line = LineString(metres) if len(metres) > 1 else Point(metres[0])
            streets.append(_Street(name, district, line))
        return cls(
            areas,
            streets,
            projection,
            approximate=bool(collection.get("approximate", False)),
            street_max_distance_m=config.street_max_distance_m,
        )

    def locate(self, lat: float, lon: float) -> Place | None:
        """The place of a WGS84 point, or None if it lies outside every district."""
        point = Point(lon, lat)
        for area in self._areas:
            if area.polygon.covers(point):
                return Place(area.district, area.postcode, self.nearest_street(lat, lon), self.approximate)
        return None

    def distance_to_streets_m(
        self,
        district: str,
        streets: Iterable[str],
        *,
        street: str | None = None,
        point: tuple[float, float] | None = None,
    ) -> float | None:
        """Metres from a report (its point, else its street) to the nearest of `streets` in `district`; None when
        either side has no coordinates here (a street the places file does not know)."""
        known = {s.name: s.line for s in self._streets if s.district.casefold() == district.casefold()}
        targets = [known[name] for name in streets if name in known]
        if not targets:
            return None
        here: BaseGeometry | None = None
        if point is not None:
            here = Point(self._projection.to_m(*point))
        elif street is not None and street in known:
            here = known[street]
        if here is None:
            return None
        return min(float(here.distance(target)) for target in targets)

    def nearest_street(self, lat: float, lon: float) -> str | None:
        here = Point(self._projection.to_m(lat, lon))
        best: tuple[float, str] | None = None
        for street in self._streets:
            distance = street.line.distance(here)
            if distance <= self._street_max and (best is None or distance < best[0]):
                best = (distance, street.name)
        return best[1] if best else None


def _read_geojson(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlacesError(f"{path}: cannot read GeoJSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise PlacesError(f"{path}: must be a GeoJSON FeatureCollection")
    return data


def _rounded(geom: BaseGeometry) -> dict[str, Any]:
    return dict(mapping(shapely.set_precision(geom, 1e-6)))


def approximate_boundaries(config: PlacesConfig) -> dict[str, Any]:
    """An APPROXIMATE boundary file: each district is the Voronoi cell of its centre (the area closer to its
    centre than to any other), clipped to an outline `outline_buffer_m` around all centres.

    Every centre lies in its own cell by construction. Real district borders follow roads, brooks and
    history; this is what the hub uses until the city's official file is imported.
    """
    if len(config.centres) < 2:
        raise PlacesError("an approximation needs at least two district centres")
    lat0 = sum(c.lat for c in config.centres) / len(config.centres)
    projection = _Projection(lat0)
    points = MultiPoint([projection.to_m(c.lat, c.lon) for c in config.centres])
    outline = points.convex_hull.buffer(config.outline_buffer_m, quad_segs=8)
    cells = shapely.voronoi_polygons(points, extend_to=outline)
    features = []
    for centre in config.centres:
        here = Point(projection.to_m(centre.lat, centre.lon))
        cell = next(c for c in cells.geoms if c.covers(here))
        clipped = projection.geometry_to_deg(cell.intersection(outline))
        features.append(
            {
                "type": "Feature",
                "properties": {"district": centre.name, "postcode": centre.postcode, "approximate": True},
                "geometry": _rounded(clipped),
            }
        )
    return {
        "type": "FeatureCollection",
        "name": f"{config.city} districts (APPROXIMATE)",
        "approximate": True,
        "description": (
            "APPROXIMATE district boundaries: Voronoi cells of the districts' centres in places.yaml, clipped to "
            f"an outline {config.outline_buffer_m:.0f} m around them. Not the city's official borders. Replace "
            "with: hub places import OFFICIAL.geojson"
        ),
        "features": features,
    }


def import_boundaries(
    source: Mapping[str, Any],
    config: PlacesConfig,
    *,
    district_property: str = "district",
    postcode_property: str = "postcode",
) -> dict[str, Any]:
    """The city's official boundary file, normalised: one (multi)polygon per district, WGS84, with
    `district` and `postcode` properties; features of the same district are merged.

    Raises PlacesError for a file that is not WGS84 GeoJSON or names districts the hub does not know.
    """
    if source.get("type") != "FeatureCollection":
        raise PlacesError("the official file must be a GeoJSON FeatureCollection")
    known = {c.name.casefold(): c for c in config.centres}
    parts: dict[str, list[BaseGeometry]] = {}
    postcodes: dict[str, str] = {}
    for index, feature in enumerate(source.get("features") or []):
        props = feature.get("properties") or {}
        name = props.get(district_property)
        if not isinstance(name, str) or name.casefold() not in known:
            raise PlacesError(
                f"feature {index}: property '{district_property}' = {name!r} is not a district of places.yaml "
                f"({', '.join(c.name for c in config.centres)})"
            )
        centre = known[name.casefold()]
        geom = shape(feature["geometry"])
        minx, miny, maxx, maxy = geom.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise PlacesError(
                f"feature {index} ({name}): coordinates are not WGS84 degrees (a Lambert 72 file? convert it first: "
                "ogr2ogr -t_srs EPSG:4326 out.geojson in.geojson)"
            )
        parts.setdefault(centre.name, []).append(geom)
        postcodes[centre.name] = str(props.get(postcode_property) or centre.postcode)
    if not parts:
        raise PlacesError("the official file has no features")
    features = [
        {
            "type": "Feature",
            "properties": {"district": name, "postcode": postcodes[name], "approximate": False},
            "geometry": _rounded(unary_union(geoms)),
        }
        for name, geoms in parts.items()
    ]
    return {"type": "FeatureCollection", "name": f"{config.city} districts", "approximate": False, "features": features}


def write_geojson(path: Path, collection: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(collection, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


UNPLACED_DISTRICT = "(buiten de stad)"
"""The district statistics and spikes count a report under whose point lies outside every district."""


@dataclass(frozen=True)
class Placed:
    """A report with its location completed from its point, or the reason it could not be placed."""

    report: ReportFiled
    outside: str | None = None  # why the report has no district: its point lies outside the city, ...

    @property
    def district(self) -> str:
        return self.report.location.district or UNPLACED_DISTRICT


def place_report(report: ReportFiled, finder: PlaceFinder | None) -> Placed:
    """Fill a missing district, postcode and street from the report's point; the given ones are kept.

    A report that has its district (and postcode) is returned as it is, whatever its point says.
    """
    loc = report.location
    if loc.district is not None and loc.postcode is not None:
        return Placed(report)
    if loc.lat is None or loc.lon is None:  # the contract refuses this; a hand-built one is not placed
        return Placed(report, "the location has neither a district nor a point")
    if finder is None:
        return Placed(report, "the location has no district and no boundary file is configured")
    place = finder.locate(loc.lat, loc.lon)
    if place is None:
        return Placed(report, OUTSIDE_REASON.format(lat=loc.lat, lon=loc.lon))
    location = loc.model_copy(
        update={
            "district": loc.district or place.district,
            "postcode": loc.postcode or place.postcode,
            "street": loc.street or place.street,
        }
    )
    return Placed(report.model_copy(update={"location": location}))

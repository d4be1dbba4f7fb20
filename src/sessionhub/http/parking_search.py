"""Coord's Parking Search API under ``/v1/search/parking``: how a partner app discovers location ids
(and whether a location takes barcode or instant sessions) instead of being handed them.

    GET /location?latitude&longitude&radius_km[&duration_m][&parking_start_time][&location_ids]&access_key
    GET /location/{id}?[duration_m][&parking_start_time]&access_key

Both answer the key's account's locations (a READ key), in the Coord dialect's error shape.
Locations carry no coordinates yet, so ``latitude``/``longitude``/``radius_km`` are checked and do
not narrow the result (docs/parking.md).
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sessionhub.core.errors import InvalidInput
from sessionhub.core.parking import MAX_SIMULATED_MINUTES, parse_location_ids
from sessionhub.http import parking_wire as wire
from sessionhub.http.body import query_int, query_time
from sessionhub.http.openapi import DATE_TIME, Param, integer
from sessionhub.http.parking import ParkingApi, docs, json, path_id

MAX_RADIUS_KM = 100.0
"""A search wider than this is refused: a partner app looks around a place, not a country."""


def query_float(request: Request, name: str, low: float, high: float) -> float | None:
    """An optional decimal query parameter within [low, high]."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw) if len(raw) <= 32 and raw.isascii() else math.nan
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and low <= value <= high):
        raise InvalidInput(f"{name} must be a number from {low} to {high}", name)
    return value


def _check_area(request: Request) -> None:
    """latitude and longitude come together; radius_km needs them."""
    lat = query_float(request, "latitude", -90.0, 90.0)
    lon = query_float(request, "longitude", -180.0, 180.0)
    radius = query_float(request, "radius_km", 0.0, MAX_RADIUS_KM)
    if (lat is None) != (lon is None):
        raise InvalidInput("latitude and longitude go together", "latitude" if lat is None else "longitude")
    if radius is not None and lat is None:
        raise InvalidInput("radius_km needs latitude and longitude", "radius_km")


IDS = r"^\s*$|^\s*[1-9][0-9]{0,17}\s*(,\s*[1-9][0-9]{0,17}\s*)*$"
"""``location_ids`` as parse_location_ids reads it (blank: no filter; at most MAX_SEARCH_IDS ids, unsaid)."""
STAY = (Param("duration_m", integer(0, MAX_SIMULATED_MINUTES), "minutes of the stay to price (adds `cost`)"),
        Param("parking_start_time", DATE_TIME, "when the stay starts (checked; rates do not vary by time yet)"))


class SearchApi:
    def __init__(self, parking: ParkingApi) -> None:
        self.parking = parking

    @docs.op("Search the account's parking locations", list[wire.ParkingLocation], errors=(400, 401, 403), query=(
        Param("latitude", {"type": "number", "minimum": -90, "maximum": 90}, "with longitude (not narrowing yet)"),
        Param("longitude", {"type": "number", "minimum": -180, "maximum": 180}, "with latitude"),
        Param("radius_km", {"type": "number", "minimum": 0, "maximum": MAX_RADIUS_KM}, "needs latitude, longitude"),
        *STAY, Param("location_ids", {"type": "string", "pattern": IDS}, "only these comma-separated location ids")))
    async def locations(self, request: Request) -> Response:
        _check_area(request)
        query_time(request, "parking_start_time")
        found = await self.parking.parking.search(
            await self.parking.key(request), parse_location_ids(request.query_params.get("location_ids")),
            query_int(request, "duration_m"),
        )
        return json([wire.location_out(loc, cost) for loc, cost in found])

    @docs.op("One parking location of the account", wire.ParkingLocation, query=STAY)
    async def location(self, request: Request) -> Response:
        query_time(request, "parking_start_time")
        loc, cost = await self.parking.parking.search_one(
            await self.parking.key(request), path_id(request, "id"), query_int(request, "duration_m"))
        return json(wire.location_out(loc, cost))

    def routes(self) -> list[BaseRoute]:
        """The search API's route table, to mount at ``/v1/search/parking``."""
        return [
            Route("/location", self.locations, methods=["GET"]),
            Route("/location/{id}", self.location, methods=["GET"]),
        ]

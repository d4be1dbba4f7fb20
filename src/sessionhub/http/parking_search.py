"""Coord's Parking Search API under ``/v1/search/parking``: how a partner app discovers location ids
(and whether a location takes barcode or instant sessions) instead of being handed them.

    GET /location?latitude&longitude&radius_km[&duration_m][&parking_start_time][&location_ids]&access_key
    GET /location/{id}?[duration_m][&parking_start_time]&access_key

Both answer the key's account's locations (a READ key), in the Coord dialect's error shape. With
``latitude``/``longitude`` the list holds the locations within ``radius_km`` (default 5) of that point,
nearest first, each with its ``distance_km`` (docs/parking.md).
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sessionhub.core.errors import InvalidInput
from sessionhub.core.parking import (
    DEFAULT_RADIUS_KM,
    MAX_RADIUS_KM,
    MAX_SIMULATED_MINUTES,
    Area,
    area,
    parse_location_ids,
)
from sessionhub.http import parking_wire as wire
from sessionhub.http.body import query_int, query_time
from sessionhub.http.openapi import DATE_TIME, Param, integer
from sessionhub.http.parking import ParkingApi, docs, json, path_id

_NUMBER = re.compile(r"[+-]?(?:[0-9]{1,24}(?:\.[0-9]{0,24})?|\.[0-9]{1,24})(?:[eE][+-]?[0-9]{1,3})?")
"""A number in a query, as JSON writes one (Python's ``float`` also takes "1_0", "١٢", " 1", "nan")."""


def query_float(request: Request, name: str) -> float | None:
    """An optional decimal query parameter (its range is the core's to check)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not _NUMBER.fullmatch(raw):
        raise InvalidInput(f"{name} must be a decimal number such as 37.7749", name)
    return float(raw)


def _area(request: Request) -> Area | None:
    return area(query_float(request, "latitude"), query_float(request, "longitude"),
                query_float(request, "radius_km"))


COORDINATE = {"type": "number", "description": "WGS 84 degrees (latitude -90..90, longitude -180..180)"}
IDS = r"^\s*$|^\s*[1-9][0-9]{0,17}\s*(,\s*[1-9][0-9]{0,17}\s*)*$"
"""``location_ids`` as parse_location_ids reads it (blank: no filter; at most MAX_SEARCH_IDS ids, unsaid)."""
STAY = (Param("duration_m", integer(0, MAX_SIMULATED_MINUTES), "minutes of the stay to price (adds `cost`)"),
        Param("parking_start_time", DATE_TIME, "when the stay starts (checked; rates do not vary by time yet)"))


class SearchApi:
    def __init__(self, parking: ParkingApi) -> None:
        self.parking = parking

    @docs.op("Search the account's parking locations", list[wire.ParkingLocation], errors=(400, 401, 403), query=(
        Param("latitude", COORDINATE, "with longitude: only the locations around this point, nearest first"),
        Param("longitude", COORDINATE, "with latitude"),
        Param("radius_km", {"type": "number", "minimum": 0, "maximum": MAX_RADIUS_KM},
              f"how far around the point (default {DEFAULT_RADIUS_KM:g}); needs latitude and longitude"),
        *STAY, Param("location_ids", {"type": "string", "pattern": IDS}, "only these comma-separated location ids")))
    async def locations(self, request: Request) -> Response:
        where = _area(request)
        query_time(request, "parking_start_time")
        found = await self.parking.parking.search(
            await self.parking.key(request), parse_location_ids(request.query_params.get("location_ids")),
            query_int(request, "duration_m"), where,
        )
        return json([wire.location_out(loc, cost, km) for loc, cost, km in found])

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

"""The parking dialect: Coord's Parking Access API under ``/v1/access/parking``, its gate, and
Coord's ``POST /v1/users/create_jwt`` under ``/v1/users``.

Each handler parses, calls one service method, renders. The key comes in the ``access_key`` query
parameter; the end user in the body's ``user_id`` or an ``Authorization: Bearer <JWT>`` header.
Every success is 200, as Coord's specs declare for every operation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from sessionhub.core.access import Key
from sessionhub.core.changes import parking_location_topic, parking_locations_prefix, parking_session_topic
from sessionhub.core.errors import InvalidInput, Unauthorized
from sessionhub.core.parking import Event, ParkingSession
from sessionhub.http import keyrules
from sessionhub.http import parking_wire as wire
from sessionhub.http.body import decode, query_int, read_body
from sessionhub.http.conditional import Conditional
from sessionhub.http.errors import renderer
from sessionhub.http.openapi import SSE, Docs, Param, integer
from sessionhub.http.sse import EventStream
from sessionhub.http.streams import Streams, options
from sessionhub.live.hub import ChangeHub
from sessionhub.service.access import AccessService
from sessionhub.service.parking import MAX_LIST, ParkingService

JSON = "application/json"
MAX_BODY = 64 * 1024
"""Coord bodies are a few fields; anything bigger is refused with 413."""

_ID = re.compile(r"[1-9][0-9]{0,18}")
ID = integer(1, 2**63 - 1)
docs = Docs("parking", [{"AccessKeyQuery": []}], wire.CoordError, {"location_id": ID, "session_id": ID, "id": ID},
            "Coord Parking Access API, its gate and the Users API's create_jwt (docs/parking.md). The end user is "
            "named by the body's (or query's) user_id or by a bearer JWT from POST /v1/users/create_jwt.")
PAGING = (Param("after_id", integer(), "only sessions with a greater id (the last id of the previous page)"),
          Param("limit", integer(1, MAX_LIST), f"sessions per page (at most {MAX_LIST})"))
_encode = msgspec.json.Encoder().encode


def json(body: Any, status: int = 200) -> Response:
    return Response(_encode(body), status, media_type=JSON)


render_error = renderer(wire.BODIES)


def path_id(request: Request, name: str) -> int:
    """A positive integer id from the path (location and session ids are integers)."""
    return param_id(request.path_params, name)


def param_id(params: Mapping[str, str], name: str) -> int:
    """A positive integer id from path parameters ``params``."""
    raw = params[name]
    if not _ID.fullmatch(raw) or int(raw) > 2**63 - 1:
        raise InvalidInput(f"{name} must be a positive integer", name)
    return int(raw)


def bearer(request: Request) -> str | None:
    """The JWT of an ``Authorization: Bearer`` header; None without the header."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization must be 'Bearer <JWT from POST /v1/users/create_jwt>'")
    return token.strip()


async def body(request: Request) -> bytes:
    """The request body; an empty one reads as ``{}`` (Coord declares no body for most calls)."""
    return await read_body(request, MAX_BODY) or b"{}"


def _session_body(session: ParkingSession) -> bytes:
    return _encode(wire.session_out(session))


def _sessions(found: list[ParkingSession]) -> Response:
    return json([wire.session_out(s) for s in found])


def _user_sessions(params: Mapping[str, str]) -> list[str]:
    return [parking_locations_prefix()]  # every session change also changes its location


def _location(params: Mapping[str, str]) -> list[str]:
    return [parking_location_topic(param_id(params, "location_id"))]


def _session(params: Mapping[str, str]) -> list[str]:
    return [parking_session_topic(param_id(params, "session_id"))]


class ParkingApi:
    def __init__(self, access: AccessService, parking: ParkingService, hub: ChangeHub, streams: Streams) -> None:
        self.access, self.parking, self.hub, self.streams = access, parking, hub, streams

    async def key_of(self, scope: Scope) -> Key | None:
        """The partner's key (``access_key``, http/keyrules.py), nothing else, authenticated."""
        return await self.access.authenticate(keyrules.COORD(scope))

    async def partner(self, request: Request) -> Key | None:
        """The partner's key (``access_key``), nothing else."""
        return await self.key_of(request.scope)

    async def key(self, request: Request) -> Key | None:
        """The partner's key; a user's bearer token, when sent, is checked on every call (an invalid
        one is a 401 wherever it is sent, never ignored)."""
        key = await self.partner(request)
        await self.parking.check_bearer(key, bearer(request))
        return key

    @docs.op("Retrieve a location's sessions (only the user's, with a user's JWT)", list[wire.Session],
             query=PAGING, user=True)
    async def location_sessions(self, request: Request, check_only: bool = False) -> Response:
        found = await self.parking.sessions_of_location(
            await self.key(request), path_id(request, "location_id"), query_int(request, "after_id"),
            query_int(request, "limit", 1, MAX_LIST), check_only, bearer(request),
        )
        return _sessions(found)

    @docs.op("Create a session for the user: started at once, or pending with a barcode for the gate",
             wire.Session, body=wire.CreateSession, errors=(400, 401, 403, 404, 409), user=True,
             description="409 when the user already has an active session. Without a user (user_id or JWT): 400.")
    async def create_session(self, request: Request) -> Response:
        got = decode(await body(request), wire.CreateSession)
        session = await self.parking.create_session(
            await self.key(request), path_id(request, "location_id"), bearer=bearer(request),
            user_id=None if got.user_id is None else str(got.user_id), barcode=got.barcode,
        )
        return json(wire.session_out(session))

    @docs.op("Retrieve an existing session", wire.Session)
    async def session(self, request: Request) -> Response:
        location_id, session_id = path_id(request, "location_id"), path_id(request, "session_id")
        payload = await self.parking.session_body(await self.key(request), location_id, session_id, _session_body)
        return Response(payload, media_type=JSON)

    @docs.op("Follow a session: Server-Sent Events of its GET", "sse", media=SSE)
    async def session_stream(self, request: Request) -> EventStream:
        location_id, session_id = path_id(request, "location_id"), path_id(request, "session_id")
        return await self.streams.parking_session(await self.key(request), location_id, session_id,
                                                  options(request))

    @docs.op("Follow a location: its sessions (event: sessions), then each change (event: session)", "sse",
             media=SSE)
    async def location_stream(self, request: Request) -> EventStream:
        return await self.streams.location(await self.key(request), path_id(request, "location_id"),
                                           options(request))

    @docs.op("End a started session and bill it", wire.Session, errors=(400, 401, 403, 404, 409),
             description="409 for a session that is not started, already ended, or ended at the gate (barcode).")
    async def end_session(self, request: Request) -> Response:
        location_id, session_id = path_id(request, "location_id"), path_id(request, "session_id")
        session = await self.parking.end_session(await self.key(request), location_id, session_id)
        return json(wire.session_out(session))

    @docs.op("Create a barcode (a pass) for the user, valid at every location or one", wire.BarcodeOut,
             body=wire.CreateBarcode, user=True)
    async def create_barcode(self, request: Request) -> Response:
        got = decode(await body(request), wire.CreateBarcode)
        barcode = await self.parking.create_barcode(
            await self.key(request), bearer=bearer(request),
            user_id=None if got.user_id is None else str(got.user_id), location_id=got.location_id,
        )
        return json(wire.barcode_out(barcode))

    @docs.op("Retrieve the user's sessions", list[wire.Session], user=True, query=(
        Param("user_id", {"type": "string", "format": "uuid"}, "the user, when no bearer JWT names one"), *PAGING))
    async def user_sessions(self, request: Request) -> Response:
        found = await self.parking.sessions_of_user(
            await self.key(request), bearer=bearer(request), user_id=request.query_params.get("user_id") or None,
            after_id=query_int(request, "after_id"), limit=query_int(request, "limit", 1, MAX_LIST),
        )
        return _sessions(found)

    @docs.op("Test accounts: simulate the user's arrival now and departure duration_m later", wire.Session,
             body=wire.SimulateRedemption, errors=(400, 401, 403, 404, 409))
    async def simulate_redemption(self, request: Request) -> Response:
        got = decode(await body(request), wire.SimulateRedemption)
        session = await self.parking.simulate_redemption(
            await self.key(request), path_id(request, "location_id"), path_id(request, "session_id"), got.duration_m
        )
        return json(wire.session_out(session))

    @docs.op("The gate's scanner read a barcode: entry starts a session, exit ends and bills it", wire.Session,
             body=wire.Scan, errors=(400, 401, 403, 404, 409))
    async def scan(self, request: Request) -> Response:
        got = decode(await body(request), wire.Scan)
        session = await self.parking.scan(
            await self.key(request), path_id(request, "location_id"), got.barcode, Event(got.direction), got.plate
        )
        return json(wire.session_out(session))

    @docs.op("Create a user JWT (HS256, one hour) for the account's user external_uid", wire.Jwt,
             body=wire.CreateJwtBody, body_required=True, errors=(400, 401, 403),
             security=[{"AccessKeyQuery": [], "ServerToken": []}, {"AccessKeyQuery": []}])
    async def create_jwt(self, request: Request) -> Response:
        """Coord's production call; its bearer is the *server token*, not a user's (see the service)."""
        uid = wire.external_uid(decode(await body(request), wire.CreateJwt))
        return json({"jwt_token": await self.parking.create_jwt(await self.partner(request), uid, bearer(request))})

    @docs.op("Test accounts: create a user JWT in the sandbox", wire.Jwt, body=wire.CreateJwtBody, body_required=True,
             errors=(400, 401, 403))
    async def create_test_jwt(self, request: Request) -> Response:
        """Coord's sandbox call, the first one its docs send developers to."""
        uid = wire.external_uid(decode(await body(request), wire.CreateJwt))
        return json({"jwt_token": await self.parking.create_test_jwt(await self.key(request), uid)})

    @docs.op("Set the user's vehicle: the plate a gate's camera may read instead of a barcode", wire.VehicleOut,
             body=wire.VehicleIn, body_required=True, user=True, query=(
                 Param("user_id", {"type": "string", "format": "uuid"}, "the user, when no bearer JWT names one"),))
    async def set_vehicle(self, request: Request) -> Response:
        plate = decode(await body(request), wire.VehicleIn).license_plate
        vehicle = await self.parking.set_vehicle(
            await self.key(request), bearer=bearer(request), user_id=request.query_params.get("user_id") or None,
            text=plate.text, country=plate.country, subdivision=plate.subdivision)
        return json(wire.vehicle_out(vehicle))

    @docs.op("The current user and their vehicle", wire.CurrentUser, user=True, query=(
        Param("user_id", {"type": "string", "format": "uuid"}, "the user, when no bearer JWT names one"),))
    async def current_user(self, request: Request) -> Response:
        user, vehicle = await self.parking.current_user(
            await self.key(request), bearer=bearer(request), user_id=request.query_params.get("user_id") or None)
        return json(wire.CurrentUser(user, None if vehicle is None else wire.vehicle_out(vehicle)))

    def routes(self, get: Conditional) -> list[BaseRoute]:
        """The dialect's route table, to mount at ``/v1/access/parking``: said once, for the full
        stack and the lanes (http/fastpath.py, http/streamlane.py)."""
        key = self.key_of
        return [
            Route("/session", get(self.user_sessions, key, _user_sessions, cached=False), methods=["GET"]),
            Route("/barcode", self.create_barcode, methods=["POST"]),
            Route("/testing/{location_id}/{session_id}/simulate_redemption", self.simulate_redemption,
                  methods=["POST"]),
            Route("/{location_id}/session", get(self.location_sessions, key, _location, checking=True),
                  methods=["GET"]),
            Route("/{location_id}/session", self.create_session, methods=["POST"]),
            Route("/{location_id}/session/{session_id}", get(self.session, key, _session), methods=["GET"]),
            Route("/{location_id}/session/{session_id}/stream", self.session_stream, methods=["GET"]),
            Route("/{location_id}/stream", self.location_stream, methods=["GET"]),
            Route("/{location_id}/session/{session_id}/end", self.end_session, methods=["PUT"]),
            Route("/{location_id}/gate/scan", self.scan, methods=["POST"]),
        ]

    def users_routes(self) -> list[BaseRoute]:
        """Coord's Users API subset, to mount at ``/v1/users``."""
        return [
            Route("/create_jwt", self.create_jwt, methods=["POST"]),
            Route("/testing/create_jwt", self.create_test_jwt, methods=["POST"]),
            Route("/user/current", self.current_user, methods=["GET"]),
            Route("/user/current/vehicle", self.set_vehicle, methods=["PUT"]),
        ]

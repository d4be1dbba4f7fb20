"""The race-timing dialect: RUFUS Cloud public API v0, under ``/v0``.

Each handler parses, calls one service method, renders. Keys come in the ``api_key`` header or
its alternate ``x-api-key``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from sessionhub.core.access import Key
from sessionhub.core.changes import device_topic, timing_devices_prefix, timing_session_topic
from sessionhub.core.clock import iso_ms
from sessionhub.core.errors import InvalidInput
from sessionhub.core.timing import TimingSession, parse_id
from sessionhub.http import keyrules
from sessionhub.http import timing_wire as wire
from sessionhub.http.body import decode, query_int, query_time, read_body
from sessionhub.http.conditional import Conditional
from sessionhub.http.errors import renderer
from sessionhub.http.sse import EventStream
from sessionhub.http.streams import Streams, options
from sessionhub.live.hub import ChangeHub
from sessionhub.service.access import AccessService
from sessionhub.service.timing import TimingService

JSON = "application/json"
_encode = msgspec.json.Encoder().encode


def json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(_encode(body), status, media_type=JSON)


render_error = renderer(wire.BODIES)


hex_id = parse_id


def required_key(raw: str | None) -> str:
    """The key a request sent. RUFUS marks ``api_key`` required on every endpoint and answers a
    missing required parameter with 400; an unknown key is still the service's 401."""
    if not raw:
        raise InvalidInput("the api_key header (or x-api-key) is required", "api_key")
    return raw


def _devices(params: Mapping[str, str]) -> list[str]:
    return [timing_devices_prefix()]


def _device(params: Mapping[str, str]) -> list[str]:
    return [device_topic(hex_id(params["deviceid"], "deviceid"))]


def _session(params: Mapping[str, str]) -> list[str]:
    return [timing_session_topic(hex_id(params["token"], "token_session"))]


class TimingApi:
    def __init__(self, access: AccessService, timing: TimingService, hub: ChangeHub, streams: Streams) -> None:
        self.access, self.timing, self.hub, self.streams = access, timing, hub, streams

    async def key_of(self, scope: Scope) -> Key | None:
        """The dialect's key rule (http/keyrules.py), authenticated."""
        return await self.access.authenticate(required_key(keyrules.RUFUS(scope)))

    async def key(self, request: Request) -> Key | None:
        return await self.key_of(request.scope)

    # devices ----------------------------------------------------------------------------------

    async def bind_device(self, request: Request) -> Response:
        body = decode(await read_body(request), wire.BindDevice)
        deviceid = await self.timing.bind_device(
            await self.key(request), model=body.model, serial_number=body.serial_number, type=body.type,
            alias=body.alias, firmware=body.firmware,
        )
        return json({"description": "Device binded succesfully", "deviceid": deviceid}, 201)

    async def unbind_device(self, request: Request) -> Response:
        deviceid = hex_id(request.path_params["deviceid"], "deviceid")
        await self.timing.unbind_device(await self.key(request), deviceid)
        return json({"description": "Device unbinded succesfully", "deviceid": deviceid})

    async def report_telemetry(self, request: Request) -> Response:
        deviceid = hex_id(request.path_params["deviceid"], "deviceid")
        body = decode(await read_body(request, wire.MAX_TELEMETRY_BODY), wire.TelemetryIn)
        done = await self.timing.report_telemetry(await self.key(request), deviceid, wire.to_telemetry(body))
        return json(msgspec.to_builtins(wire.TelemetryRecorded(
            "Telemetry inserted succesfully", deviceid, iso_ms(done.at_ms or 0))), 201)

    async def device(self, request: Request) -> Response:
        deviceid = hex_id(request.path_params["deviceid"], "deviceid")
        stats = await self.timing.device(await self.key(request), deviceid)
        return json({"description": "Success", "result": wire.device_detail(stats)})

    async def devices(self, request: Request) -> Response:
        page, limit = query_int(request, "page", 1), query_int(request, "limit", 1, 5000)
        found, total, page, limit = await self.timing.devices(await self.key(request), page, limit)
        return json({
            "description": "Success", "result": [wire.device_summary(d) for d in found],
            "pagination": {"page": page, "limit": limit, "total": total, "has_more": page * limit < total},
        })

    # sessions ---------------------------------------------------------------------------------

    async def open_session(self, request: Request) -> Response:
        body = decode(await read_body(request), wire.OpenSession)
        token = await self.timing.open_session(await self.key(request), hex_id(body.deviceid, "deviceid"),
                                               body.alias)
        return json({"description": "Session inserted succesfully", "token_session": token}, 201)

    async def close_session(self, request: Request) -> Response:
        token = hex_id(request.path_params["token"], "token_session")
        await self.timing.close_session(await self.key(request), token)
        return json({"description": "Session closed succesfully", "token_session": token})

    async def session(self, request: Request) -> Response:
        token = hex_id(request.path_params["token"], "token_session")
        body = await self.timing.session_body(await self.key(request), token, _session_body)
        return Response(body, media_type=JSON)

    async def sessions_of_device(self, request: Request) -> Response:
        deviceid = hex_id(request.path_params["deviceid"], "deviceid")
        sessions = await self.timing.sessions_of_device(await self.key(request), deviceid)
        return json({"description": "Success", "result": [wire.session_summary(s) for s in sessions]})

    async def active_session(self, request: Request) -> Response:
        deviceid = hex_id(request.path_params["deviceid"], "deviceid")
        session = await self.timing.active_session(await self.key(request), deviceid)
        return json({"description": "Success", "result": [wire.session_detail(session)]})

    # passings ---------------------------------------------------------------------------------

    async def record_passings(self, request: Request) -> Response:
        body = decode(await read_body(request), wire.RecordPassings)
        token = hex_id(body.token_session, "token_session")
        done = await self.timing.record_passings(await self.key(request), token, wire.to_passings(body))
        return json({"description": "Passings inserted succesfully", "token_session": token,
                     "inserted_count": done.inserted, "duplicate_count": done.duplicates}, 201)

    async def passings_of_session(self, request: Request, check_only: bool = False) -> Response:
        token = hex_id(request.path_params["token"], "token_session")
        found = await self.timing.passings_of_session(
            await self.key(request), token, query_int(request, "first"), query_int(request, "last"),
            query_int(request, "page", 1), check_only,
        )
        return json({"description": "Success", "result": [wire.passing_out(p) for p in found]})

    async def passings_of_device(self, request: Request, check_only: bool = False) -> Response:
        deviceid = hex_id(request.path_params["deviceid"], "deviceid")
        found = await self.timing.passings_of_device(
            await self.key(request), deviceid, query_time(request, "from"), query_time(request, "to"),
            query_int(request, "page", 1), check_only,
        )
        return json({"description": "Success", "result": [wire.passing_out(p) for p in found]})

    async def resume_device(self, request: Request) -> Response:
        deviceid = hex_id(request.path_params["deviceid"], "deviceid")
        token = request.query_params.get("token_session") or None
        got = await self.timing.resume_device(
            await self.key(request), deviceid, query_time(request, "from"), query_time(request, "to"),
            None if token is None else hex_id(token, "token_session"), query_int(request, "last"),
            query_int(request, "page", 1),
        )
        return json({
            "description": "Success", "deviceid": deviceid, "session_used": got.session.token,
            "session_label": got.session.alias, "resumed_from": got.resumed_from,
            "passings": [wire.passing_out(p) for p in got.passings],
        })

    # streams (http/streams.py) ------------------------------------------------------------------

    async def stream_key(self, request: Request) -> Key | None:
        """The key of a stream: as for every call, or in ``?api_key=`` (a browser's EventSource cannot
        set headers)."""
        return await self.access.authenticate(required_key(keyrules.RUFUS_STREAM(request.scope)))

    async def device_stream(self, request: Request) -> EventStream:
        deviceid = hex_id(request.path_params["deviceid"], "deviceid")
        return await self.streams.device(await self.stream_key(request), deviceid, options(request))

    async def session_stream(self, request: Request) -> EventStream:
        token = hex_id(request.path_params["token"], "token_session")
        return await self.streams.timing_session(await self.stream_key(request), token, options(request))

    async def device2_stream(self, request: Request) -> EventStream:
        deviceid = hex_id(request.path_params["deviceid"], "deviceid")
        token = request.query_params.get("token_session") or None
        return await self.streams.device2(
            await self.stream_key(request), deviceid, None if token is None else hex_id(token, "token_session"),
            query_int(request, "last"), options(request))

    def routes(self, get: Conditional) -> list[BaseRoute]:
        """The dialect's route table, to mount at ``/v0``: said once, for the full stack and the lanes
        (http/fastpath.py answers the ``fast`` GETs, http/streamlane.py the ``/stream`` ones)."""
        key = self.key_of
        return [
            Route("/devices", self.bind_device, methods=["POST"]),
            Route("/devices", get(self.devices, key, _devices), methods=["GET"]),
            Route("/devices/{deviceid}", get(self.device, key, _device), methods=["GET"]),
            Route("/devices/{deviceid}", self.unbind_device, methods=["DELETE"]),
            Route("/devices/{deviceid}/telemetry", self.report_telemetry, methods=["POST"]),
            Route("/devices/{deviceid}/stream", self.device_stream, methods=["GET"]),
            Route("/sessions", self.open_session, methods=["POST"]),
            Route("/sessions/close/{token}", self.close_session, methods=["PATCH"]),
            Route("/sessions/device/{deviceid}", get(self.sessions_of_device, key, _device), methods=["GET"]),
            Route("/sessions/device/{deviceid}/active", get(self.active_session, key, _device), methods=["GET"]),
            Route("/sessions/{token}", get(self.session, key, _session), methods=["GET"]),
            Route("/sessions/{token}/stream", self.session_stream, methods=["GET"]),
            Route("/passings", self.record_passings, methods=["POST"]),
            Route("/passings/session/{token}", get(self.passings_of_session, key, _session, checking=True),
                  methods=["GET"]),
            Route("/passings/device/{deviceid}", get(self.passings_of_device, key, _device, checking=True),
                  methods=["GET"]),
            Route("/passings/device2/{deviceid}", get(self.resume_device, key, _device), methods=["GET"]),
            Route("/passings/device2/{deviceid}/stream", self.device2_stream, methods=["GET"]),
        ]


def _session_body(session: TimingSession) -> bytes:
    return _encode({"description": "Success", "result": [wire.session_detail(session)]})

"""The race-timing dialect: RUFUS Cloud public API v0, under ``/v0``.

Each handler parses, calls one service method, renders. Keys come in the ``api_key`` header or
its alternate ``x-api-key``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
from sessionhub.core.timing import MAX_PAGE, TimingSession, parse_id
from sessionhub.http import keyrules
from sessionhub.http import timing_wire as wire
from sessionhub.http.body import decode, query_int, query_time, read_body
from sessionhub.http.conditional import Conditional
from sessionhub.http.errors import renderer
from sessionhub.http.openapi import DATE_TIME, SSE, Docs, Param, integer
from sessionhub.http.sse import EventStream
from sessionhub.http.streams import Streams, options
from sessionhub.live.hub import ChangeHub
from sessionhub.service.access import AccessService
from sessionhub.service.timing import TimingService

JSON = "application/json"
_encode = msgspec.json.Encoder().encode


HEX64 = {"type": "string", "pattern": "^[0-9A-Fa-f]{64}$", "description": "64 hexadecimal characters"}
docs = Docs("timing", [{"ApiKeyHeader": []}, {"XApiKeyHeader": []}], wire.RufusError,
            {"deviceid": HEX64, "token": HEX64},
            "RUFUS Cloud public API v0: devices, their sessions and the passings in them (docs/timing.md).")
PAGE = Param("page", integer(1, MAX_PAGE), "1-based page of at most 5000 passings")
WINDOW = (Param("from", DATE_TIME, "earliest passing time (ISO-8601)"),
          Param("to", DATE_TIME, "latest passing time (ISO-8601)"))


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
    def __init__(self, access: AccessService, timing: TimingService, hub: ChangeHub, streams: Streams, *,
                 on_passings: Callable[[int, int], None] | None = None) -> None:
        """``on_passings(inserted, duplicates)``: told of each batch stored (the metrics count them)."""
        self.access, self.timing, self.hub, self.streams = access, timing, hub, streams
        self.on_passings = on_passings

    async def key_of(self, scope: Scope) -> Key | None:
        """The dialect's key rule (http/keyrules.py), authenticated."""
        return await self.access.authenticate(required_key(keyrules.RUFUS(scope)))

    async def key(self, request: Request) -> Key | None:
        return await self.key_of(request.scope)

    # devices ----------------------------------------------------------------------------------

    @docs.op("Bind a device", wire.DeviceEcho, status=201, body=wire.BindDevice, errors=(400, 401, 403, 409),
             description="409 (with the existing deviceid) when the account already has this serial_number.")
    async def bind_device(self, request: Request) -> Response:
        body = decode(await read_body(request), wire.BindDevice)
        deviceid = await self.timing.bind_device(
            await self.key(request), model=body.model, serial_number=body.serial_number, type=body.type,
            alias=body.alias, firmware=body.firmware,
        )
        return json({"description": "Device binded succesfully", "deviceid": deviceid}, 201)

    @docs.op("Unbind a device, deleting its sessions and passings (a key with the unbind flag)", wire.DeviceEcho)
    async def unbind_device(self, request: Request) -> Response:
        deviceid = hex_id(request.path_params["deviceid"], "deviceid")
        await self.timing.unbind_device(await self.key(request), deviceid)
        return json({"description": "Device unbinded succesfully", "deviceid": deviceid})

    @docs.op("Report a device's telemetry (an older report than stored is refused)", wire.TelemetryRecorded,
             status=201, body=wire.TelemetryIn, body_required=True, errors=(400, 401, 403, 404, 409))
    async def report_telemetry(self, request: Request) -> Response:
        deviceid = hex_id(request.path_params["deviceid"], "deviceid")
        body = decode(await read_body(request, wire.MAX_TELEMETRY_BODY), wire.TelemetryIn)
        done = await self.timing.report_telemetry(await self.key(request), deviceid, wire.to_telemetry(body))
        return json(msgspec.to_builtins(wire.TelemetryRecorded(
            "Telemetry inserted succesfully", deviceid, iso_ms(done.at_ms or 0))), 201)

    @docs.op("Device information", wire.DeviceInfo)
    async def device(self, request: Request) -> Response:
        deviceid = hex_id(request.path_params["deviceid"], "deviceid")
        stats = await self.timing.device(await self.key(request), deviceid)
        return json({"description": "Success", "result": wire.device_detail(stats)})

    @docs.op("List the account's devices", wire.DeviceList, errors=(400, 401, 403), query=(
        Param("page", integer(1, MAX_PAGE), "1-based page"),
        Param("limit", integer(1, 5000), "devices per page (default 5000)")))
    async def devices(self, request: Request) -> Response:
        page, limit = query_int(request, "page", 1), query_int(request, "limit", 1, 5000)
        found, total, page, limit = await self.timing.devices(await self.key(request), page, limit)
        return json({
            "description": "Success", "result": [wire.device_summary(d) for d in found],
            "pagination": {"page": page, "limit": limit, "total": total, "has_more": page * limit < total},
        })

    # sessions ---------------------------------------------------------------------------------

    @docs.op("Create a session on a device (closing its other active session)", wire.SessionEcho, status=201,
             body=wire.OpenSession)
    async def open_session(self, request: Request) -> Response:
        body = decode(await read_body(request), wire.OpenSession)
        token = await self.timing.open_session(await self.key(request), hex_id(body.deviceid, "deviceid"),
                                               body.alias)
        return json({"description": "Session inserted succesfully", "token_session": token}, 201)

    @docs.op("Close a session", wire.SessionEcho)
    async def close_session(self, request: Request) -> Response:
        token = hex_id(request.path_params["token"], "token_session")
        await self.timing.close_session(await self.key(request), token)
        return json({"description": "Session closed succesfully", "token_session": token})

    @docs.op("Session information", wire.SessionInfo)
    async def session(self, request: Request) -> Response:
        token = hex_id(request.path_params["token"], "token_session")
        body = await self.timing.session_body(await self.key(request), token, _session_body)
        return Response(body, media_type=JSON)

    @docs.op("A device's sessions, newest first", wire.SessionList)
    async def sessions_of_device(self, request: Request) -> Response:
        deviceid = hex_id(request.path_params["deviceid"], "deviceid")
        sessions = await self.timing.sessions_of_device(await self.key(request), deviceid)
        return json({"description": "Success", "result": [wire.session_summary(s) for s in sessions]})

    @docs.op("A device's active session", wire.SessionInfo)
    async def active_session(self, request: Request) -> Response:
        deviceid = hex_id(request.path_params["deviceid"], "deviceid")
        session = await self.timing.active_session(await self.key(request), deviceid)
        return json({"description": "Success", "result": [wire.session_detail(session)]})

    # passings ---------------------------------------------------------------------------------

    @docs.op("Insert a batch of passings into an active session (repeats are counted, not stored)",
             wire.PassingsInserted, status=201, body=wire.RecordPassings)
    async def record_passings(self, request: Request) -> Response:
        body = decode(await read_body(request), wire.RecordPassings)
        token = hex_id(body.token_session, "token_session")
        done = await self.timing.record_passings(await self.key(request), token, wire.to_passings(body))
        if self.on_passings is not None:
            self.on_passings(done.inserted, done.duplicates)
        return json({"description": "Passings inserted succesfully", "token_session": token,
                     "inserted_count": done.inserted, "duplicate_count": done.duplicates}, 201)

    @docs.op("A session's passings by num_passing range", wire.PassingList, query=(
        Param("first", integer(), "lowest num_passing"), Param("last", integer(), "highest num_passing"), PAGE))
    async def passings_of_session(self, request: Request, check_only: bool = False) -> Response:
        token = hex_id(request.path_params["token"], "token_session")
        found = await self.timing.passings_of_session(
            await self.key(request), token, query_int(request, "first"), query_int(request, "last"),
            query_int(request, "page", 1), check_only,
        )
        return json({"description": "Success", "result": [wire.passing_out(p) for p in found]})

    @docs.op("A device's passings by time window, across its sessions", wire.PassingList, query=(*WINDOW, PAGE))
    async def passings_of_device(self, request: Request, check_only: bool = False) -> Response:
        deviceid = hex_id(request.path_params["deviceid"], "deviceid")
        found = await self.timing.passings_of_device(
            await self.key(request), deviceid, query_time(request, "from"), query_time(request, "to"),
            query_int(request, "page", 1), check_only,
        )
        return json({"description": "Success", "result": [wire.passing_out(p) for p in found]})

    @docs.op("A device's passings after a cursor (continuous querying)", wire.Device2, query=(
        *WINDOW, Param("token_session", HEX64, "the previous answer's session_used"),
        Param("last", integer(), "the highest num_passing seen in it"), PAGE))
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

    @docs.op("Follow a device: Server-Sent Events of its GET (telemetry included)", "sse", media=SSE)
    async def device_stream(self, request: Request) -> EventStream:
        deviceid = hex_id(request.path_params["deviceid"], "deviceid")
        return await self.streams.device(await self.stream_key(request), deviceid, options(request))

    @docs.op("Follow a session: Server-Sent Events of its GET plus each batch of passings", "sse", media=SSE)
    async def session_stream(self, request: Request) -> EventStream:
        token = hex_id(request.path_params["token"], "token_session")
        return await self.streams.timing_session(await self.stream_key(request), token, options(request))

    @docs.op("Follow device2 live: each batch the device stores and each session it opens", "sse", media=SSE,
             query=(Param("token_session", HEX64, "start after this session's passings"),
                    Param("last", integer(), "and after this num_passing")))
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

"""The RUFUS v0 wire format: request structs, response bodies and the error table.

Bodies use the legacy bare envelope (``{"description": ..., "result": ...}``), timestamps
``YYYY-MM-DDTHH:mm:ss.sssZ``, and the description strings of the RUFUS docs, misspellings
("succesfully", "binded") included, because clients compare them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from sessionhub.core import errors as E
from sessionhub.core.clock import iso_ms, to_ms
from sessionhub.core.errors import InvalidInput
from sessionhub.core.timing import Device, DeviceStats, Passing, StoredPassing, Telemetry, TimingSession
from sessionhub.http.openapi import DATE_TIME

MAX_TELEMETRY_BODY = 16 * 1024
"""A telemetry report is a few fields: a bigger body is refused (413) before it is read whole."""

Text = Annotated[str, Meta(max_length=256)]
ShortText = Annotated[str, Meta(max_length=64)]
# What the handlers check beyond the struct (a non-blank name, a 64-hex id), said in the schema only
# (http/openapi.py): the handler's own check keeps its message.
Name = Annotated[str, Meta(max_length=256, extra_json_schema={"pattern": r"\S"})]
HexId = Annotated[str, Meta(max_length=256, extra_json_schema={"pattern": "^[0-9A-Fa-f]{64}$"})]

# Coordinates travel as decimal strings (legacy) or numbers (new spec); ``_coordinate`` checks them
# (the string patterns say what its ``_DECIMAL`` and range checks accept).
Latitude = (Annotated[str, Meta(max_length=32, extra_json_schema={
    "pattern": r"^-?(?:90(?:\.0{1,20})?|[1-8]?[0-9](?:\.[0-9]{1,20})?)$"})]
    | Annotated[float, Meta(extra_json_schema={"minimum": -90, "maximum": 90})])
Longitude = (Annotated[str, Meta(max_length=32, extra_json_schema={
    "pattern": r"^-?(?:180(?:\.0{1,20})?|(?:1[0-7][0-9]|[1-9]?[0-9])(?:\.[0-9]{1,20})?)$"})]
    | Annotated[float, Meta(extra_json_schema={"minimum": -180, "maximum": 180})])


class BindDevice(msgspec.Struct, forbid_unknown_fields=True):
    model: Name
    serial_number: Name
    type: Text | None = None
    alias: Text | None = None
    firmware: Text | None = None


class OpenSession(msgspec.Struct, forbid_unknown_fields=True):
    deviceid: HexId
    alias: Text | None = None


class PassingIn(msgspec.Struct, forbid_unknown_fields=True):
    bib: ShortText
    num_passing: Annotated[int, Meta(ge=0, le=2**53)]
    timestamp: Annotated[datetime, Meta(extra_json_schema=DATE_TIME)]
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    status: ShortText | None = None
    participant_id: ShortText | None = None
    chip: ShortText | None = None
    timezone: ShortText | None = None
    gender: ShortText | None = None


class TelemetryIn(msgspec.Struct, forbid_unknown_fields=True):
    """A device's health report (RUFUS §8; its payload was not published: these are decided names)."""

    timestamp: Annotated[datetime, Meta(extra_json_schema=DATE_TIME)] | None = None
    """When the device took the report (default: when it arrives); an older one than stored is refused."""
    device_status: ShortText | None = None
    battery_percentage: Annotated[int, Meta(ge=0, le=100)] | None = None
    charging: bool | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    temperature: Annotated[float, Meta(ge=-100, le=200)] | None = None
    """Degrees Celsius."""


class TelemetryRecorded(msgspec.Struct):
    description: str
    deviceid: str
    last_telemetry_at: str


def to_telemetry(body: TelemetryIn) -> Telemetry:
    lat, lon = _coordinate(body.latitude, 90.0, "latitude"), _coordinate(body.longitude, 180.0, "longitude")
    return Telemetry(
        None if body.timestamp is None else to_ms(body.timestamp), body.device_status, body.battery_percentage,
        body.charging, None if lat is None else float(lat), None if lon is None else float(lon), body.temperature,
    )


def telemetry_fields(d: Device) -> dict[str, Any]:
    """The telemetry fields of DeviceSummary (and of the device's detail), null before any report."""
    t = d.telemetry
    if t is None:
        return {"device_status": None, "battery_percentage": None, "charging": None, "last_telemetry_at": None,
                "latitude": None, "longitude": None, "temperature": None}
    return {"device_status": t.device_status, "battery_percentage": t.battery_percentage, "charging": t.charging,
            "last_telemetry_at": _iso(t.at_ms), "latitude": t.latitude, "longitude": t.longitude,
            "temperature": t.temperature}


class RecordPassings(msgspec.Struct, forbid_unknown_fields=True):
    token_session: HexId
    passings_list: list[PassingIn]


_DECIMAL = re.compile(r"-?[0-9]{1,3}(\.[0-9]{1,20})?")
"""A coordinate sent as a string: a plain ASCII decimal like the reference's ``"12.000"`` (Python's
``float`` also takes ``"1_0"``, ``" 12 "``, ``"١٢"`` and ``"1e1"``, which were stored as sent)."""


def _coordinate(value: str | float | None, limit: float, field: str) -> str | None:
    """Coordinates travel as strings (legacy) or numbers (new spec); they are kept as strings."""
    if value is None:
        return None
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise InvalidInput(f"{field} must be a decimal number like \"12.000\"", field)
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"{field} must be a number", field) from None
    if not (math.isfinite(number) and -limit <= number <= limit):
        raise InvalidInput(f"{field} must be between {-limit} and {limit}", field)
    return value if isinstance(value, str) else repr(value)


def _timestamp(value: datetime, field: str) -> int:
    try:
        return to_ms(value)
    except ValueError as exc:
        raise InvalidInput(f"{field}: {exc}", field) from None


def to_passings(body: RecordPassings) -> list[Passing]:
    out = []
    for i, p in enumerate(body.passings_list):
        where = f"passings_list[{i}]"
        out.append(Passing(
            p.num_passing, _timestamp(p.timestamp, f"{where}.timestamp"), p.bib, p.chip, p.participant_id,
            _coordinate(p.latitude, 90.0, f"{where}.latitude"), _coordinate(p.longitude, 180.0, f"{where}.longitude"),
            p.status, p.timezone, p.gender,
        ))
    return out


def _iso(ms: int | None) -> str | None:
    return None if ms is None else iso_ms(ms)


def session_detail(s: TimingSession) -> dict[str, Any]:
    return {
        "token_session": s.token, "alias": s.alias, "creation_date": iso_ms(s.created_ms),
        "duration": iso_ms(s.duration_ms), "active": s.active, "passings": s.passings,
        "first": _iso(s.first_ms), "last": _iso(s.last_ms),
    }


def session_summary(s: TimingSession) -> dict[str, Any]:
    return {"token_session": s.token, "alias": s.alias, "creation_date": iso_ms(s.created_ms),
            "active": s.active, "passings": s.passings}


def device_detail(d: DeviceStats) -> dict[str, Any]:
    x = d.device
    return {
        "deviceid": x.deviceid, "type": x.type, "model": x.model, "alias": x.alias, "firmware": x.firmware,
        "serial_number": x.serial_number, "creation_date": iso_ms(x.created_ms), "sessions": d.sessions,
        "passings": d.passings, "last_seen": _iso(x.last_seen_ms), **telemetry_fields(x),
    }


def device_summary(d: DeviceStats) -> dict[str, Any]:
    x = d.device
    return {
        "deviceid": x.deviceid, "type": x.type, "model": x.model, "alias": x.alias, "firmware": x.firmware,
        "serial_number": x.serial_number, "last_login": _iso(x.last_seen_ms), "creation_date": iso_ms(x.created_ms),
        "sessions": d.sessions, **telemetry_fields(x),
    }


def passing_out(sp: StoredPassing) -> dict[str, Any]:
    p = sp.passing
    return {
        "token_session": sp.token_session, "timestamp": iso_ms(p.ts_ms), "num_passing": p.num_passing,
        "latitude": p.latitude, "longitude": p.longitude, "status": p.status, "participant_id": p.participant_id,
        "chip": p.chip, "bib": p.bib, "timezone": p.timezone, "gender": p.gender, "deviceid": sp.deviceid,
    }


def _echo(field: str) -> Callable[[E.SessionhubError], dict[str, Any]]:
    def body(e: E.SessionhubError) -> dict[str, Any]:
        ident = getattr(e, "ident", None)
        return {"description": e.message} | ({field: ident} if ident is not None else {})
    return body


def _plain(description: str) -> Callable[[E.SessionhubError], dict[str, Any]]:
    return lambda e: {"description": description, "message": e.message}


def _invalid(e: E.SessionhubError) -> dict[str, Any]:
    field = getattr(e, "field", None)
    return {"description": "Bad request", "message": e.message} | ({"field": field} if field else {})


BODIES: dict[type[E.SessionhubError], Callable[[E.SessionhubError], dict[str, Any]]] = {
    E.SessionhubError: lambda e: {"description": "Internal server error"},
    E.InvalidInput: _invalid,
    E.PayloadTooLarge: _plain("Payload too large"),
    E.Unauthorized: _plain("Unauthorized"),
    E.Forbidden: _plain("Forbidden"),
    E.NotFound: _plain("Not found"),
    E.DeviceNotFound: _echo("deviceid"),
    E.SessionNotFound: _echo("token_session"),
    E.SessionsNotFound: _echo("deviceid"),
    E.SessionNotActive: _echo("token_session"),
    E.EventNotFound: _echo("event_token"),
    E.ParticipantNotFound: _echo("participant_id"),
    E.LocationNotFound: _plain("Not found"),
    E.BarcodeNotFound: _plain("Not found"),
    E.PlateNotFound: _plain("Not found"),
    E.RouteNotFound: _plain("Not found"),
    E.Conflict: _plain("Conflict"),
    E.AlreadyExists: _echo("deviceid"),
    E.ParticipantExists: lambda e: {"description": "Participant already exists", "message": e.message}
    | ({"participant_id": ident} if (ident := getattr(e, "ident", None)) else {}),
    E.IllegalTransition: _plain("Conflict"),
    E.StaleTelemetry: lambda e: {"description": "Stale telemetry", "message": e.message}
    | ({"deviceid": ident} if (ident := getattr(e, "ident", None)) else {}),
    E.MethodNotAllowed: _plain("Method not allowed"),
    E.RateLimited: _plain("Too many requests"),
    E.StoreUnavailable: _plain("Service unavailable"),
    E.SchemaError: _plain("Service unavailable"),
}
"""The body of every class of the core's error tree, as RUFUS answers it (a test walks the tree)."""


# Response bodies, as structs: the OpenAPI document's schemas (http/openapi.py). The renderers above
# build the same shapes as dicts; tests/http/test_openapi.py holds each renderer to its struct.

class Pagination(msgspec.Struct):
    page: int
    limit: int
    total: int
    has_more: bool


class SessionDetail(msgspec.Struct):
    token_session: str
    alias: str | None
    creation_date: str
    duration: str
    active: bool
    passings: int
    first: str | None
    last: str | None


class SessionSummary(msgspec.Struct):
    token_session: str
    alias: str | None
    creation_date: str
    active: bool
    passings: int


class DeviceDetail(msgspec.Struct):
    deviceid: str
    type: str | None
    model: str
    alias: str | None
    firmware: str | None
    serial_number: str
    creation_date: str
    sessions: int
    passings: int
    last_seen: str | None
    device_status: str | None
    battery_percentage: int | None
    charging: bool | None
    last_telemetry_at: str | None
    latitude: float | None
    longitude: float | None
    temperature: float | None


class DeviceSummary(msgspec.Struct):
    deviceid: str
    type: str | None
    model: str
    alias: str | None
    firmware: str | None
    serial_number: str
    last_login: str | None
    creation_date: str
    sessions: int
    device_status: str | None
    battery_percentage: int | None
    charging: bool | None
    last_telemetry_at: str | None
    latitude: float | None
    longitude: float | None
    temperature: float | None


class PassingOut(msgspec.Struct):
    token_session: str
    timestamp: str
    num_passing: int
    latitude: str | None
    longitude: str | None
    status: str | None
    participant_id: str | None
    chip: str | None
    bib: str
    timezone: str | None
    gender: str | None
    deviceid: str


class DeviceEcho(msgspec.Struct):
    """POST /devices (201) and DELETE /devices/{deviceid}."""

    description: str
    deviceid: str


class SessionEcho(msgspec.Struct):
    """POST /sessions (201) and PATCH /sessions/close/{token_session}."""

    description: str
    token_session: str


class PassingsInserted(msgspec.Struct):
    description: str
    token_session: str
    inserted_count: int
    duplicate_count: int


class DeviceInfo(msgspec.Struct):
    description: str
    result: DeviceDetail


class DeviceList(msgspec.Struct):
    description: str
    result: list[DeviceSummary]
    pagination: Pagination


class SessionInfo(msgspec.Struct):
    description: str
    result: list[SessionDetail]


class SessionList(msgspec.Struct):
    description: str
    result: list[SessionSummary]


class PassingList(msgspec.Struct):
    description: str
    result: list[PassingOut]


class Device2(msgspec.Struct):
    """device2's answer: where the cursor went (``session_used``, ``resumed_from``) and what came."""

    description: str
    deviceid: str
    session_used: str | None
    session_label: str | None
    resumed_from: int
    passings: list[PassingOut]


class RufusError(msgspec.Struct):
    """Every error: RUFUS's ``description``, our ``message``, and the field or the id concerned."""

    description: str
    message: str | msgspec.UnsetType = msgspec.UNSET
    field: str | msgspec.UnsetType = msgspec.UNSET
    deviceid: str | msgspec.UnsetType = msgspec.UNSET
    token_session: str | msgspec.UnsetType = msgspec.UNSET
